#include "net_sock_diag.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "net_failure.h"

namespace sanpath::net {
namespace {

// Requests per send: the kernel's answers to one send must fit the socket's receive queue.
constexpr size_t kSocketsPerSend = 64;

// include/net/tcp_states.h
constexpr uint8_t kTcpTimeWait = 6;
constexpr uint8_t kTcpListen = 10;

inet_diag_req_v2 ExactRequest(uint8_t family, const inet_diag_sockid& id) {
  inet_diag_req_v2 request{};
  request.sdiag_family = family;
  request.sdiag_protocol = IPPROTO_TCP;
  request.idiag_ext = 0;
  request.idiag_states = ~0U;
  request.id = id;
  return request;
}

inet_diag_sockid AskedId(const TcpSocketId& socket) {
  inet_diag_sockid id{};
  id.idiag_sport = htons(socket.local_port);
  id.idiag_dport = htons(socket.remote_port);
  id.idiag_src[0] = socket.local_ip.s_addr;
  id.idiag_dst[0] = socket.remote_ip.s_addr;
  id.idiag_if = 0;
  id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  return id;
}

// The IPv4 address in a sock_diag address field: the first word for AF_INET, the last of an
// IPv4-mapped IPv6 address; false for any other IPv6 address.
bool Ipv4Of(uint8_t family, const __be32 (&address)[4], uint32_t& ipv4) {
  if (family == AF_INET) {
    ipv4 = address[0];
    return true;
  }
  if (family == AF_INET6 && address[0] == 0 && address[1] == 0 && address[2] == htonl(0xffff)) {
    ipv4 = address[3];
    return true;
  }
  return false;
}

// Whether the kernel's answer to an exact lookup is the connection asked for (and not the listener
// the lookup falls back to, nor a connection that is over: TIME_WAIT).
bool IsAskedConnection(const inet_diag_msg& found, const TcpSocketId& asked) {
  if (found.idiag_state == kTcpListen || found.idiag_state == kTcpTimeWait) return false;
  uint32_t local = 0;
  uint32_t remote = 0;
  if (!Ipv4Of(found.idiag_family, found.id.idiag_src, local) ||
      !Ipv4Of(found.idiag_family, found.id.idiag_dst, remote)) {
    return false;
  }
  return local == asked.local_ip.s_addr && remote == asked.remote_ip.s_addr &&
         found.id.idiag_sport == htons(asked.local_port) && found.id.idiag_dport == htons(asked.remote_port);
}

}  // namespace

SockDiagSocket::SockDiagSocket() : netlink_(NETLINK_SOCK_DIAG, "NETLINK_SOCK_DIAG") {}

std::vector<SocketDestroyAnswer> SockDiagSocket::DestroyTcp(const std::vector<TcpSocketId>& sockets,
                                                            const Deadline& deadline) {
  std::vector<SocketDestroyAnswer> answers(sockets.size());
  for (size_t begin = 0; begin < sockets.size(); begin += kSocketsPerSend) {
    DestroyChunk(sockets, begin, std::min(sockets.size(), begin + kSocketsPerSend), answers, deadline);
  }
  return answers;
}

void SockDiagSocket::DestroyChunk(const std::vector<TcpSocketId>& sockets, size_t begin, size_t end,
                                  std::vector<SocketDestroyAnswer>& answers, const Deadline& deadline) {
  // 1. The exact lookups, in one send: each answered by the socket found or by an NLMSG_ERROR.
  RequestBuilder lookups;
  std::map<uint32_t, size_t> waiting;  // seq -> index of the socket
  for (size_t at = begin; at < end; at++) {
    const uint32_t seq = netlink_.NextSeq();
    lookups.Begin(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, seq);
    const inet_diag_req_v2 request = ExactRequest(AF_INET, AskedId(sockets[at]));
    lookups.AppendFixed(&request, sizeof request);
    lookups.End();
    answers[at].step = "lookup";
    waiting[seq] = at;
  }
  std::map<size_t, inet_diag_msg> found;  // index of the socket -> the kernel's socket
  netlink_.Send(lookups.bytes());
  while (!waiting.empty()) {
    for (const ReceivedMessage& message : netlink_.Receive(deadline)) {
      auto asked = waiting.find(message.seq);
      if (asked == waiting.end()) continue;
      const size_t at = asked->second;
      if (message.type == NLMSG_ERROR) {
        KernelAck ack = ParseAck(message);
        // 0 would be an acknowledgement without an answer: nothing was found.
        answers[at].err = ack.err < 0 ? ack.err : -ENOENT;
        answers[at].kernel_message = std::move(ack.message);
      } else if (message.type == SOCK_DIAG_BY_FAMILY && message.payload_length >= sizeof(inet_diag_msg)) {
        inet_diag_msg socket{};
        std::memcpy(&socket, message.payload, sizeof socket);
        if (IsAskedConnection(socket, sockets[at])) {
          found[at] = socket;
        } else {
          answers[at].err = -ENOENT;
        }
      } else {
        throw StepFailed("parse", EPROTO, "an unexpected answer to a sock_diag lookup");
      }
      waiting.erase(asked);
    }
  }
  if (found.empty()) return;

  // 2. SOCK_DESTROY of each socket found, named by the kernel's own id (its cookie included), in
  // one send, each with its acknowledgement.
  RequestBuilder destroys;
  for (const auto& [at, socket] : found) {
    const uint32_t seq = netlink_.NextSeq();
    destroys.Begin(SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, seq);
    const inet_diag_req_v2 request = ExactRequest(socket.idiag_family, socket.id);
    destroys.AppendFixed(&request, sizeof request);
    destroys.End();
    answers[at].step = "destroy";
    waiting[seq] = at;
  }
  netlink_.Send(destroys.bytes());
  while (!waiting.empty()) {
    for (const ReceivedMessage& message : netlink_.Receive(deadline)) {
      if (message.type != NLMSG_ERROR) continue;
      auto asked = waiting.find(message.seq);
      if (asked == waiting.end()) continue;
      KernelAck ack = ParseAck(message);
      answers[asked->second].err = ack.err;
      answers[asked->second].kernel_message = std::move(ack.message);
      waiting.erase(asked);
    }
  }
}

}  // namespace sanpath::net
