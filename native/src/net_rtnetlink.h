// IPv4 addresses through rtnetlink (NETLINK_ROUTE): add and delete many in one send, each with its
// own acknowledgement (the kernel's errno per address), dump them with their devices' names, and
// look a device up by name.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "net_deadline.h"
#include "net_netlink.h"

namespace sanpath::net {

struct AddressChange {
  std::string device;
  in_addr ip{};
  uint8_t prefix_length = 0;
};

enum class AddressChangeKind { kAdd, kDelete };

// The kernel's answer to one change.
struct AddressAnswer {
  int err = 0;                 // 0: done; else a negative errno (EEXIST, EADDRNOTAVAIL, ENODEV, ...)
  std::string step;            // "link" (no such device) or "address" (the kernel's answer to the change)
  std::string kernel_message;  // the kernel's extended acknowledgement, often empty
};

struct DumpedAddress {
  std::string ip;
  uint8_t prefix_length = 0;
  std::string device;
  int ifindex = 0;
};

class RtnetlinkSocket {
 public:
  // A NETLINK_ROUTE socket in the calling thread's network namespace. Throws StepFailed.
  RtnetlinkSocket();

  // The device's interface index, or 0 when there is no device of that name.
  int LinkIndex(const std::string& device, const Deadline& deadline);

  // Applies every change (one send for all of them) and returns one answer per change, in order.
  std::vector<AddressAnswer> ChangeAddresses(AddressChangeKind kind, const std::vector<AddressChange>& changes,
                                             const Deadline& deadline);

  // Every IPv4 address of every device, loopback included.
  std::vector<DumpedAddress> DumpIpv4Addresses(const Deadline& deadline);

 private:
  // Sends a dump request and hands each message of the answer to `visit`. Returns false when the
  // kernel marked the dump as interrupted by a concurrent change.
  bool Dump(uint16_t type, const void* header, size_t header_length, const Deadline& deadline,
            const std::function<void(const ReceivedMessage&)>& visit);

  NetlinkSocket netlink_;
};

}  // namespace sanpath::net
