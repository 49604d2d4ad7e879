/** The bad-input corpus of EventService: filters it cannot honour, named by field. */
import { ListEventsRequest, WatchEventsRequest } from "../../src/gen/sanpath/v1/event.js";
import { bytes, MB, type Case } from "./security-bad-input-support.js";

export const EVENT_CASES: Case[] = [
  {
    what: "an unknown event kind",
    method: "ListEvents",
    body: bytes(ListEventsRequest, { kinds: [99] }),
    code: "INVALID_ARGUMENT",
    field: "kinds[0]",
  },
  {
    what: "since after until",
    method: "ListEvents",
    body: bytes(ListEventsRequest, {
      since: new Date(2_000_000_000_000),
      until: new Date(1_000_000_000_000),
    }),
    code: "INVALID_ARGUMENT",
    field: "since",
  },
  {
    what: "a page of a million",
    method: "ListEvents",
    body: bytes(ListEventsRequest, { pageSize: 1_000_000 }),
    code: "INVALID_ARGUMENT",
    field: "page_size",
  },
  {
    what: "a forged page token",
    method: "ListEvents",
    body: bytes(ListEventsRequest, { pageToken: "../../etc/passwd" }),
    code: "INVALID_ARGUMENT",
    field: "page_token",
  },
  {
    what: "a 1 MB page token",
    method: "ListEvents",
    body: bytes(ListEventsRequest, { pageToken: MB }),
    code: "INVALID_ARGUMENT",
    field: "page_token",
  },
  {
    what: "an unknown event kind, followed",
    method: "WatchEvents",
    body: bytes(WatchEventsRequest, { kinds: [1, 99] }),
    code: "INVALID_ARGUMENT",
    field: "kinds[1]",
  },
];
