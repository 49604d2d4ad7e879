#include "net_arp.h"

#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/if_ether.h>
#include <netpacket/packet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

#include "net_failure.h"

namespace sanpath::net {
namespace {

// Fills `request` for `device` and runs the interface ioctl `command` on it.
void InterfaceIoctl(int fd, unsigned long command, const char* step, const std::string& device, ifreq& request) {
  std::memset(&request, 0, sizeof request);
  std::memcpy(request.ifr_name, device.data(), device.size());
  if (ioctl(fd, command, &request) != 0) {
    int error = errno;
    throw StepFailed(step, error, "device " + device);
  }
}

}  // namespace

UniqueFd OpenPacketSocket() {
  // Protocol 0: the socket sends only, it never receives a frame.
  UniqueFd fd(socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    int error = errno;
    throw StepFailed("socket", error, "AF_PACKET");
  }
  return fd;
}

void SendGratuitousArp(const UniqueFd& packet_socket, const std::string& device, const in_addr& ip,
                       const Deadline& deadline) {
  if (device.empty() || device.size() >= IFNAMSIZ) throw StepFailed("device_name", EINVAL, "device " + device);
  const int fd = packet_socket.get();
  ifreq request{};
  InterfaceIoctl(fd, SIOCGIFINDEX, "SIOCGIFINDEX", device, request);
  const int index = request.ifr_ifindex;
  InterfaceIoctl(fd, SIOCGIFFLAGS, "SIOCGIFFLAGS", device, request);
  const unsigned flags = static_cast<unsigned short>(request.ifr_flags);
  if ((flags & IFF_UP) == 0) throw StepFailed("device_down", ENETDOWN, "device " + device + " is down");
  if ((flags & (IFF_NOARP | IFF_LOOPBACK)) != 0) {
    throw StepFailed("device_noarp", EOPNOTSUPP, "device " + device + " does not do ARP");
  }
  InterfaceIoctl(fd, SIOCGIFHWADDR, "SIOCGIFHWADDR", device, request);
  if (request.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
    throw StepFailed("device_type", EOPNOTSUPP, "device " + device + " is not an Ethernet device");
  }
  unsigned char hardware_address[ETH_ALEN];
  std::memcpy(hardware_address, request.ifr_hwaddr.sa_data, ETH_ALEN);

  ether_arp arp{};
  arp.arp_hrd = htons(ARPHRD_ETHER);
  arp.arp_pro = htons(ETHERTYPE_IP);
  arp.arp_hln = ETH_ALEN;
  arp.arp_pln = sizeof(in_addr);
  arp.arp_op = htons(ARPOP_REQUEST);
  std::memcpy(arp.arp_sha, hardware_address, ETH_ALEN);
  std::memcpy(arp.arp_spa, &ip, sizeof(in_addr));
  // arping -U: the target hardware address is the one it sends to, the broadcast address.
  std::memset(arp.arp_tha, 0xff, ETH_ALEN);
  std::memcpy(arp.arp_tpa, &ip, sizeof(in_addr));

  sockaddr_ll broadcast{};
  broadcast.sll_family = AF_PACKET;
  broadcast.sll_protocol = htons(ETH_P_ARP);
  broadcast.sll_ifindex = index;
  broadcast.sll_halen = ETH_ALEN;
  std::memset(broadcast.sll_addr, 0xff, ETH_ALEN);

  // A full device queue makes the send wait; not past the deadline.
  const int remaining_ms = deadline.RemainingMs();
  if (remaining_ms == 0) throw StepFailed("deadline", ETIMEDOUT, "no time left to send on " + device);
  timeval send_timeout{};
  send_timeout.tv_sec = remaining_ms / 1000;
  send_timeout.tv_usec = static_cast<suseconds_t>((remaining_ms % 1000) * 1000);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout) != 0) {
    int error = errno;
    throw StepFailed("setsockopt", error, "SO_SNDTIMEO");
  }
  for (;;) {
    const ssize_t sent =
        sendto(fd, &arp, sizeof arp, 0, reinterpret_cast<const sockaddr*>(&broadcast), sizeof broadcast);
    if (sent == static_cast<ssize_t>(sizeof arp)) return;
    if (sent >= 0) throw StepFailed("sendto", EIO, "a short send on " + device);
    int error = errno;
    if (error == EINTR) continue;
    if (error == EAGAIN || error == EWOULDBLOCK) error = ETIMEDOUT;
    throw StepFailed("sendto", error, "device " + device);
  }
}

}  // namespace sanpath::net
