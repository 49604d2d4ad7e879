// The gratuitous ARP that `arping -U -c 1 -I <device> <ip>` sends, from an AF_PACKET socket.
#pragma once

#include <netinet/in.h>

#include <string>

#include "net_deadline.h"
#include "net_fd.h"

namespace sanpath::net {

// An AF_PACKET socket in the calling thread's network namespace (it sends on that namespace's
// devices). Throws StepFailed.
UniqueFd OpenPacketSocket();

// Sends one unsolicited ARP request on `device`: sender and target IP both `ip`, sender hardware
// address the device's, target hardware address and Ethernet destination the broadcast address.
// Fails (StepFailed) when the device does not exist (ENODEV), is down (ENETDOWN), does no ARP or is
// not Ethernet (EOPNOTSUPP), or the frame cannot be queued before the deadline.
void SendGratuitousArp(const UniqueFd& packet_socket, const std::string& device, const in_addr& ip,
                       const Deadline& deadline);

}  // namespace sanpath::net
