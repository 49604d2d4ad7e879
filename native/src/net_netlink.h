// What every netlink socket of the net addon shares (rtnetlink for addresses, sock_diag for TCP
// sockets): requests laid out one after another so that one send carries many, the datagrams the
// kernel answers with split into messages, its acknowledgements read (errno and extended message),
// and a receive that ends at the operation's deadline.
#pragma once

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "net_deadline.h"
#include "net_failure.h"
#include "net_fd.h"

namespace sanpath::net {

constexpr size_t kNetlinkAlignment = 4;  // NLMSG_ALIGNTO and RTA_ALIGNTO / NLA_ALIGNTO

constexpr size_t NetlinkAlign(size_t length) { return (length + kNetlinkAlignment - 1) & ~(kNetlinkAlignment - 1); }

constexpr size_t kMessageHeaderLength = NetlinkAlign(sizeof(nlmsghdr));
constexpr size_t kAttributeHeaderLength = NetlinkAlign(sizeof(rtattr));

// One message of a datagram received from the kernel; `payload` points into the receive buffer.
struct ReceivedMessage {
  uint16_t type = 0;
  uint16_t flags = 0;
  uint32_t seq = 0;
  const char* payload = nullptr;
  size_t payload_length = 0;
};

// Requests laid out one after another in one buffer, so that a single send carries them all.
class RequestBuilder {
 public:
  void Begin(uint16_t type, uint16_t flags, uint32_t seq) {
    start_ = bytes_.size();
    nlmsghdr header{};
    header.nlmsg_type = type;
    header.nlmsg_flags = flags;
    header.nlmsg_seq = seq;
    Append(&header, sizeof header);
  }

  void AppendFixed(const void* fixed, size_t length) { Append(fixed, length); }

  void AppendAttribute(uint16_t type, const void* data, size_t length) {
    rtattr attribute{};
    attribute.rta_len = static_cast<uint16_t>(kAttributeHeaderLength + length);
    attribute.rta_type = type;
    Append(&attribute, sizeof attribute);
    Append(data, length);
  }

  void End() {
    const auto length = static_cast<uint32_t>(bytes_.size() - start_);
    std::memcpy(bytes_.data() + start_ + offsetof(nlmsghdr, nlmsg_len), &length, sizeof length);
  }

  const std::vector<char>& bytes() const { return bytes_; }
  bool empty() const { return bytes_.empty(); }

 private:
  void Append(const void* data, size_t length) {
    const size_t at = bytes_.size();
    bytes_.resize(NetlinkAlign(at + length), 0);
    std::memcpy(bytes_.data() + at, data, length);
  }

  std::vector<char> bytes_;
  size_t start_ = 0;
};

// Calls visit(type, data, length) for each attribute in [data, data + length).
template <typename Visit>
void ForEachAttribute(const char* data, size_t length, Visit visit) {
  size_t offset = 0;
  while (offset < length && length - offset >= sizeof(rtattr)) {
    rtattr attribute{};
    std::memcpy(&attribute, data + offset, sizeof attribute);
    const size_t attribute_length = attribute.rta_len;
    if (attribute_length < kAttributeHeaderLength || attribute_length > length - offset) {
      throw StepFailed("parse", EPROTO, "a malformed attribute in a netlink answer");
    }
    visit(static_cast<uint16_t>(attribute.rta_type & NLA_TYPE_MASK), data + offset + kAttributeHeaderLength,
          attribute_length - kAttributeHeaderLength);
    offset += NetlinkAlign(attribute_length);
  }
}

// What an NLMSG_ERROR says: 0 (an acknowledgement) or a negative errno, and the kernel's message.
struct KernelAck {
  int err = 0;
  std::string message;
};

KernelAck ParseAck(const ReceivedMessage& message);

// `detail`, followed by the kernel's extended acknowledgement when there is one.
std::string WithKernelMessage(std::string detail, const std::string& kernel_message);

class NetlinkSocket {
 public:
  // A netlink socket of `protocol` (NETLINK_ROUTE, NETLINK_SOCK_DIAG) in the calling thread's
  // network namespace; `name` is for messages. Throws StepFailed.
  NetlinkSocket(int protocol, const char* name);

  uint32_t NextSeq() { return next_seq_++; }
  // Sends the requests to the kernel in one datagram.
  void Send(const std::vector<char>& request);
  // The messages of the next datagram from the kernel; throws StepFailed(ETIMEDOUT) at the deadline.
  std::vector<ReceivedMessage> Receive(const Deadline& deadline);

 private:
  UniqueFd fd_;
  uint32_t next_seq_ = 1;
  std::vector<char> buffer_;
};

}  // namespace sanpath::net
