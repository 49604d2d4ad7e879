#include "net_rtnetlink.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "net_failure.h"

namespace sanpath::net {
namespace {

constexpr int kDumpAttempts = 3;

std::string Ipv4Text(const in_addr& ip) {
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &ip, text, sizeof text);
  return text;
}

}  // namespace

RtnetlinkSocket::RtnetlinkSocket() : netlink_(NETLINK_ROUTE, "NETLINK_ROUTE") {}

int RtnetlinkSocket::LinkIndex(const std::string& device, const Deadline& deadline) {
  const uint32_t seq = netlink_.NextSeq();
  RequestBuilder request;
  request.Begin(RTM_GETLINK, NLM_F_REQUEST, seq);
  ifinfomsg link{};
  link.ifi_family = AF_UNSPEC;
  request.AppendFixed(&link, sizeof link);
  request.AppendAttribute(IFLA_IFNAME, device.c_str(), device.size() + 1);
  const uint32_t skip_stats = RTEXT_FILTER_SKIP_STATS;
  request.AppendAttribute(IFLA_EXT_MASK, &skip_stats, sizeof skip_stats);
  request.End();
  netlink_.Send(request.bytes());
  for (;;) {
    for (const ReceivedMessage& message : netlink_.Receive(deadline)) {
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
    const uint32_t seq = netlink_.NextSeq();
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
  netlink_.Send(request.bytes());
  while (!waiting.empty()) {
    for (const ReceivedMessage& message : netlink_.Receive(deadline)) {
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
  const uint32_t seq = netlink_.NextSeq();
  RequestBuilder request;
  request.Begin(type, NLM_F_REQUEST | NLM_F_DUMP, seq);
  request.AppendFixed(header, header_length);
  if (type == RTM_GETLINK) {
    const uint32_t skip_stats = RTEXT_FILTER_SKIP_STATS;
    request.AppendAttribute(IFLA_EXT_MASK, &skip_stats, sizeof skip_stats);
  }
  request.End();
  netlink_.Send(request.bytes());
  bool complete = true;
  for (;;) {
    for (const ReceivedMessage& message : netlink_.Receive(deadline)) {
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
                           const size_t offset = NetlinkAlign(sizeof(ifaddrmsg));
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
                      const size_t offset = NetlinkAlign(sizeof(ifinfomsg));
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
