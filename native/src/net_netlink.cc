#include "net_netlink.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace sanpath::net {
namespace {

constexpr size_t kReceiveBufferBytes = 64 * 1024;

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
    offset += NetlinkAlign(message_length);
  }
  return messages;
}

}  // namespace

KernelAck ParseAck(const ReceivedMessage& message) {
  if (message.payload_length < sizeof(nlmsgerr)) throw StepFailed("parse", EPROTO, "a short NLMSG_ERROR");
  nlmsgerr error{};
  std::memcpy(&error, message.payload, sizeof error);
  KernelAck ack{error.error, ""};
  // The extended acknowledgement's attributes follow the echoed header when the request is not
  // echoed with it (NETLINK_CAP_ACK, set on every socket here).
  if ((message.flags & NLM_F_ACK_TLVS) != 0 && (message.flags & NLM_F_CAPPED) != 0) {
    const size_t offset = NetlinkAlign(sizeof(nlmsgerr));
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

NetlinkSocket::NetlinkSocket(int protocol, const char* name) : buffer_(kReceiveBufferBytes) {
  fd_ = UniqueFd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol));
  if (!fd_.valid()) {
    int error = errno;
    throw StepFailed("socket", error, std::string("AF_NETLINK ") + name);
  }
  // Both are refinements (Linux >= 4.3 and 4.12): without them acks are longer and carry no message.
  const int on = 1;
  (void)setsockopt(fd_.get(), SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
  (void)setsockopt(fd_.get(), SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on);
}

void NetlinkSocket::Send(const std::vector<char>& request) {
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

std::vector<ReceivedMessage> NetlinkSocket::Receive(const Deadline& deadline) {
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

}  // namespace sanpath::net
