// TCP sockets destroyed through sock_diag (NETLINK_SOCK_DIAG, SOCK_DESTROY), as `ss -K` does but
// in this process: the kernel aborts each socket (its owner's calls fail with ECONNABORTED, the
// peer gets a reset). Needs CAP_NET_ADMIN in the socket's namespace and a kernel built with
// CONFIG_INET_DIAG_DESTROY (else EOPNOTSUPP).
//
// A socket is named by its 4-tuple. The kernel's lookup by 4-tuple (inet_diag_find_one_icsk) falls
// back to a listener on the local address and port when no connection matches, and a destroyed
// listener stops accepting; so each socket is first looked up exactly (SOCK_DIAG_BY_FAMILY), and
// destroyed only when the kernel's answer is that very connection, by the socket cookie it gave
// (a socket that closed and another that took its 4-tuple meanwhile is not touched: ENOENT).
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <vector>

#include "net_deadline.h"
#include "net_netlink.h"

namespace sanpath::net {

struct TcpSocketId {
  in_addr local_ip{};
  uint16_t local_port = 0;  // host order
  in_addr remote_ip{};
  uint16_t remote_port = 0;  // host order
};

// The kernel's answer to one socket.
struct SocketDestroyAnswer {
  int err = 0;                 // 0: destroyed; else a negative errno (ENOENT: no such connection, EOPNOTSUPP, EPERM, ...)
  std::string step;            // "lookup" (the exact lookup found no such connection, or failed) or "destroy"
  std::string kernel_message;  // the kernel's extended acknowledgement, often empty
};

class SockDiagSocket {
 public:
  // A NETLINK_SOCK_DIAG socket in the calling thread's network namespace. Throws StepFailed.
  SockDiagSocket();

  // Destroys each connected IPv4 TCP socket (also an IPv6 socket with IPv4-mapped ends) and returns
  // one answer per socket, in order. Many sockets go in few sends (lookups, then destructions).
  std::vector<SocketDestroyAnswer> DestroyTcp(const std::vector<TcpSocketId>& sockets, const Deadline& deadline);

 private:
  void DestroyChunk(const std::vector<TcpSocketId>& sockets, size_t begin, size_t end,
                    std::vector<SocketDestroyAnswer>& answers, const Deadline& deadline);

  NetlinkSocket netlink_;
};

}  // namespace sanpath::net
