/**
 * One WatchEvents stream for the whole signed-in console. Pages subscribe to refresh what they
 * show when something happens (pushed, not polled). A dropped stream is opened again after a
 * pause, resuming from the time of the last event seen (events already seen are not passed on
 * twice); subscribers are told about the reconnect, since they may have missed events.
 */
import { fetchSession } from "./api-client.js";
import { parseWatchEventsMessage, type ApiErrorBody, type ClusterEvent } from "./api-model.js";
import { SeenIds } from "./event-feed.js";
import { openStream, type StreamHandle } from "./event-stream.js";

export type LiveState = "connecting" | "live" | "reconnecting" | "stopped";

export interface LiveListener {
  onEvent(event: ClusterEvent): void;
  /** The stream came back after a gap: refetch. */
  onReconnect?(): void;
}

const RETRY_MS = 3000;

export class LiveEvents {
  private readonly listeners = new Set<LiveListener>();
  private readonly stateListeners = new Set<(state: LiveState) => void>();
  private readonly seen = new SeenIds(5000);
  private stream: StreamHandle | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private since: string | undefined;
  private hadGap = false;
  private currentState: LiveState = "stopped";

  constructor(
    private readonly onUnauthenticated: () => void,
    private readonly onServerError: (error: ApiErrorBody) => void,
  ) {}

  get state(): LiveState {
    return this.currentState;
  }

  start(): void {
    if (this.currentState !== "stopped") return;
    this.since = undefined;
    this.hadGap = false;
    this.open("connecting");
  }

  stop(): void {
    this.stream?.close();
    this.stream = undefined;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.setState("stopped");
  }

  subscribe(listener: LiveListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onStateChange(listener: (state: LiveState) => void): () => void {
    this.stateListeners.add(listener);
    listener(this.currentState);
    return () => this.stateListeners.delete(listener);
  }

  private setState(state: LiveState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    for (const listener of this.stateListeners) listener(state);
  }

  private open(state: LiveState): void {
    this.setState(state);
    // Without `since` the server sends only new events; with it, from the last one seen on.
    const request = this.since === undefined ? {} : { since: this.since };
    this.stream = openStream("EventService", "WatchEvents", request, {
      onOpen: () => {
        this.setState("live");
        if (this.hadGap) {
          this.hadGap = false;
          for (const listener of this.listeners) listener.onReconnect?.();
        }
      },
      onMessage: (data) => {
        const event = parseWatchEventsMessage(data);
        if (event === undefined || !this.seen.firstTime(event.id)) return;
        if (event.time !== "") this.since = event.time;
        for (const listener of this.listeners) listener.onEvent(event);
      },
      onEnd: () => this.retryLater(),
      onServerError: (error) => {
        if (error.code === "UNAUTHENTICATED") {
          this.stop();
          this.onUnauthenticated();
          return;
        }
        this.onServerError(error);
        this.retryLater();
      },
      onTransportError: () => this.retryLater(),
    });
  }

  private retryLater(): void {
    this.stream = undefined;
    this.hadGap = true;
    this.since ??= new Date(Date.now() - RETRY_MS).toISOString();
    this.setState("reconnecting");
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      // A stream refused with 401 looks like any connection error to an EventSource: ask.
      fetchSession().then(
        (session) => {
          if (this.currentState !== "reconnecting") return;
          if (session === undefined) {
            this.stop();
            this.onUnauthenticated();
          } else {
            this.open("reconnecting");
          }
        },
        () => {
          if (this.currentState === "reconnecting") this.retryLater();
        },
      );
    }, RETRY_MS);
  }
}
