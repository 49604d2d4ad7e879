#include "net_rtnetlink.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <map>

#include "net_failure.h"

namespace sanpath::net {
namespace {

constexpr size_t kAlignment = 4;  // NLMSG_ALIGNTO and RTA_ALIGNTO
constexpr size_t kReceiveBufferBytes = 64 * 1024;
constexpr int kDumpAttempts = 3;

constexpr size_t Align(size_t length) { return (length + kAlignment - 1) & ~(kAlignment - 1); }

constexpr size_t kMessageHeaderLength = Align(sizeof(nlmsghdr));
constexpr size_t kAttributeHeaderLength = Align(sizeof(rtattr));

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

 private:
  void Append(const void* data, size_t length) {
    const size_t at = bytes_.size();
    bytes_.resize(Align(at + length), 0);
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
    offset += Align(attribute_length);
  }
}

std::vector<ReceivedMessage> SplitMessages(const char* data, size_t length) {
  std::vector<ReceivedMessage> messages;
  size_t offset = 0;
  while (offset < length && length - offset >= sizeof(nlmsghdr)) {
    nlmsghdr header{};
    std::memcpy(&header, data + offset, sizeof header);
    const size_t message_length = header.nlmsg_len;
    if (message_length < kMessageHeaderLength || message_length > length - offset) {
      throw StepFailed("parse", EPROTO, "a malformed netlink message");
    }
    messages.push_back(ReceivedMessage{header.nlmsg_type, header.nlmsg_flags, header.nlmsg_seq,
                                       data + offset + kMessageHeaderLength,
                                       message_length - kMessageHeaderLength});
    offset += Align(message_length);
  }
  return messages;
}

// What an NLMSG_ERROR says: 0 (an acknowledgement) or a negative errno, and the kernel's message.
struct KernelAck {
  int err = 0;
  std::string message;
};

KernelAck ParseAck(const ReceivedMessage& message) {
  if (message.payload_length < sizeof(nlmsgerr)) throw StepFailed("parse", EPROTO, "a short NLMSG_ERROR");
  nlmsgerr error{};
  std::memcpy(&error, message.payload, sizeof error);
  KernelAck ack{error.error, ""};
  // The extended acknowledgement's attributes follow the echoed header when the request is not
  // echoed with it (NETLINK_CAP_ACK, set on every socket here).
  if ((message.flags & NLM_F_ACK_TLVS) != 0 && (message.flags & NLM_F_CAPPED) != 0) {
    const size_t offset = Align(sizeof(nlmsgerr));
    if (offset < message.payload_length) {
      ForEachAttribute(message.payload + offset, message.payload_length - offset,
                       [&ack](uint16_t type, const char* data, size_t length) {
                         if (type == NLMSGERR_ATTR_MSG) ack.message.assign(data, strnlen(data, length));
                       });
    }
  }
  return ack;
}

std::string WithKernelMessage(std::string detail, const std::string& kernel_message) {
  if (!kernel_message.empty()) detail += " (kernel: " + kernel_message + ")";
  return detail;
}

std::string Ipv4Text(const in_addr& ip) {
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &ip, text, sizeof text);
  return text;
}

}  // namespace

RtnetlinkSocket::RtnetlinkSocket() : buffer_(kReceiveBufferBytes) {
  fd_ = UniqueFd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd_.valid()) {
    int error = errno;
    throw StepFailed("socket", error, "AF_NETLINK NETLINK_ROUTE");
  }
  // Both are refinements (Linux >= 4.3 and 4.12): without them acks are longer and carry no message.
  const int on = 1;
  (void)setsockopt(fd_.get(), SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
  (void)setsockopt(fd_.get(), SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on);
}

void RtnetlinkSocket::Send(const std::vector<char>& request) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  for (;;) {
    const ssize_t sent = sendto(fd_.get(), request.data(), request.size(), 0,
                                reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel);
    if (sent >= 0) {
      if (static_cast<size_t>(sent) != request.size()) throw StepFailed("send", EIO, "a short send to the kernel");
      return;
    }
    int error = errno;
    if (error != EINTR) throw StepFailed("send", error);
  }
}

std::vector<ReceivedMessage> RtnetlinkSocket::Receive(const Deadline& deadline) {
  for (;;) {
    pollfd readable{fd_.get(), POLLIN, 0};
    const int polled = poll(&readable, 1, deadline.RemainingMs());
    if (polled < 0) {
      int error = errno;
      if (error == EINTR) continue;
      throw StepFailed("poll", error);
    }
    if (polled == 0) throw StepFailed("deadline", ETIMEDOUT, "the kernel did not answer in time");
    const ssize_t received = recv(fd_.get(), buffer_.data(), buffer_.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (received < 0) {
      int error = errno;
      if (error == EINTR || error == EAGAIN) continue;
      throw StepFailed("recv", error);
    }
    if (static_cast<size_t>(received) > buffer_.size()) {
      throw StepFailed("recv", EMSGSIZE, "a netlink answer larger than the receive buffer");
    }
    return SplitMessages(buffer_.data(), static_cast<size_t>(received));
  }
}

int RtnetlinkSocket::LinkIndex(const std::string& device, const Deadline& deadline) {
  const uint32_t seq = next_seq_++;
  RequestBuilder request;
  request.Begin(RTM_GETLINK, NLM_F_REQUEST, seq);
  ifinfomsg link{};
  link.ifi_family = AF_UNSPEC;
  request.AppendFixed(&link, sizeof link);
  request.AppendAttribute(IFLA_IFNAME, device.c_str(), device.size() + 1);
  const uint32_t skip_stats = RTEXT_FILTER_SKIP_STATS;
  request.AppendAttribute(IFLA_EXT_MASK, &skip_stats, sizeof skip_stats);
  request.End();
  Send(request.bytes());
  for (;;) {
    for (const ReceivedMessage& message : Receive(deadline)) {
      if (message.seq != seq) continue;
      if (message.type == NLMSG_ERROR) {
        KernelAck ack = ParseAck(message);
        if (ack.err == -ENODEV) return 0;
        throw StepFailed("link_lookup", -ack.err, WithKernelMessage("device " + device, ack.message));
      }
      if (message.type == RTM_NEWLINK && message.payload_length >= sizeof(ifinfomsg)) {
        ifinfomsg found{};
        std::memcpy(&found, message.payload, sizeof found);
        return found.ifi_index;
      }
    }
  }
}

std::vector<AddressAnswer> RtnetlinkSocket::ChangeAddresses(AddressChangeKind kind,
                                                            const std::vector<AddressChange>& changes,
                                                            const Deadline& deadline) {
  std::vector<AddressAnswer> answers(changes.size());
  std::map<std::string, int> indexes;
  for (const AddressChange& change : changes) {
    if (indexes.find(change.device) == indexes.end()) indexes[change.device] = LinkIndex(change.device, deadline);
  }
  RequestBuilder request;
  std::map<uint32_t, size_t> waiting;  // seq -> index of the change
  const bool add = kind == AddressChangeKind::kAdd;
  for (size_t at = 0; at < changes.size(); at++) {
    const AddressChange& change = changes[at];
    const int index = indexes[change.device];
    if (index == 0) {
      answers[at].err = -ENODEV;
      answers[at].step = "link";
      continue;
    }
    answers[at].step = "address";
    const uint32_t seq = next_seq_++;
    // As `ip addr add|del IP/PREFIX dev DEV`: local and address both the IP, so that a deletion
    // matches the prefix length too.
    request.Begin(add ? RTM_NEWADDR : RTM_DELADDR,
                  static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0)), seq);
    ifaddrmsg address{};
    address.ifa_family = AF_INET;
    address.ifa_prefixlen = change.prefix_length;
    address.ifa_scope = RT_SCOPE_UNIVERSE;
    address.ifa_index = static_cast<uint32_t>(index);
    request.AppendFixed(&address, sizeof address);
    request.AppendAttribute(IFA_LOCAL, &change.ip, sizeof change.ip);
    request.AppendAttribute(IFA_ADDRESS, &change.ip, sizeof change.ip);
    request.End();
    waiting[seq] = at;
  }
  if (waiting.empty()) return answers;
  Send(request.bytes());
  while (!waiting.empty()) {
    for (const ReceivedMessage& message : Receive(deadline)) {
      if (message.type != NLMSG_ERROR) continue;
      auto found = waiting.find(message.seq);
      if (found == waiting.end()) continue;
      KernelAck ack = ParseAck(message);
      answers[found->second].err = ack.err;
      answers[found->second].kernel_message = std::move(ack.message);
      waiting.erase(found);
    }
  }
  return answers;
}

bool RtnetlinkSocket::Dump(uint16_t type, const void* header, size_t header_length, const Deadline& deadline,
                           const std::function<void(const ReceivedMessage&)>& visit) {
  const uint32_t seq = next_seq_++;
  RequestBuilder request;
  request.Begin(type, NLM_F_REQUEST | NLM_F_DUMP, seq);
  request.AppendFixed(header, header_length);
  if (type == RTM_GETLINK) {
    const uint32_t skip_stats = RTEXT_FILTER_SKIP_STATS;
    request.AppendAttribute(IFLA_EXT_MASK, &skip_stats, sizeof skip_stats);
  }
  request.End();
  Send(request.bytes());
  bool complete = true;
  for (;;) {
    for (const ReceivedMessage& message : Receive(deadline)) {
      if (message.seq != seq) continue;
      if ((message.flags & NLM_F_DUMP_INTR) != 0) complete = false;
      if (message.type == NLMSG_DONE) {
        int status = 0;
        if (message.payload_length >= sizeof status) std::memcpy(&status, message.payload, sizeof status);
        if (status < 0) throw StepFailed("dump", -status);
        return complete;
      }
      if (message.type == NLMSG_ERROR) {
        KernelAck ack = ParseAck(message);
        throw StepFailed("dump", ack.err < 0 ? -ack.err : EPROTO, WithKernelMessage("", ack.message));
      }
      visit(message);
    }
  }
}

std::vector<DumpedAddress> RtnetlinkSocket::DumpIpv4Addresses(const Deadline& deadline) {
  for (int attempt = 1;; attempt++) {
    std::vector<DumpedAddress> addresses;
    ifaddrmsg address_filter{};
    address_filter.ifa_family = AF_INET;
    bool complete = Dump(RTM_GETADDR, &address_filter, sizeof address_filter, deadline,
                         [&addresses](const ReceivedMessage& message) {
                           if (message.type != RTM_NEWADDR || message.payload_length < sizeof(ifaddrmsg)) return;
                           ifaddrmsg found{};
                           std::memcpy(&found, message.payload, sizeof found);
                           if (found.ifa_family != AF_INET) return;
                           in_addr local{};
                           in_addr peer{};
                           bool has_local = false;
                           bool has_peer = false;
                           const size_t offset = Align(sizeof(ifaddrmsg));
                           ForEachAttribute(message.payload + offset, message.payload_length - offset,
                                            [&](uint16_t type, const char* data, size_t length) {
                                              if (length != sizeof(in_addr)) return;
                                              if (type == IFA_LOCAL) {
                                                std::memcpy(&local, data, sizeof local);
                                                has_local = true;
                                              } else if (type == IFA_ADDRESS) {
                                                std::memcpy(&peer, data, sizeof peer);
                                                has_peer = true;
                                              }
                                            });
                           // As `ip`: the local address; IFA_ADDRESS only when there is none.
                           if (!has_local && !has_peer) return;
                           DumpedAddress dumped;
                           dumped.ip = Ipv4Text(has_local ? local : peer);
                           dumped.prefix_length = found.ifa_prefixlen;
                           dumped.ifindex = static_cast<int>(found.ifa_index);
                           addresses.push_back(std::move(dumped));
                         });
    // Devices after addresses: a device deleted in between took its addresses with it (they are
    // dropped below); one created in between had none in the first dump.
    std::map<int, std::string> names;
    ifinfomsg link_filter{};
    link_filter.ifi_family = AF_UNSPEC;
    complete = Dump(RTM_GETLINK, &link_filter, sizeof link_filter, deadline,
                    [&names](const ReceivedMessage& message) {
                      if (message.type != RTM_NEWLINK || message.payload_length < sizeof(ifinfomsg)) return;
                      ifinfomsg found{};
                      std::memcpy(&found, message.payload, sizeof found);
                      const size_t offset = Align(sizeof(ifinfomsg));
                      ForEachAttribute(message.payload + offset, message.payload_length - offset,
                                       [&](uint16_t type, const char* data, size_t length) {
                                         if (type == IFLA_IFNAME) {
                                           names[found.ifi_index] = std::string(data, strnlen(data, length));
                                         }
                                       });
                    }) &&
               complete;
    if (!complete) {
      if (attempt < kDumpAttempts) continue;
      throw StepFailed("dump", EAGAIN, "the kernel's addresses changed during every read");
    }
    std::vector<DumpedAddress> named;
    for (DumpedAddress& address : addresses) {
      auto name = names.find(address.ifindex);
      if (name == names.end()) continue;
      address.device = name->second;
      named.push_back(std::move(address));
    }
    return named;
  }
}

}  // namespace sanpath::net
