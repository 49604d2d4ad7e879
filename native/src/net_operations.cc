#include "net_operations.h"

#include <memory>
#include <utility>

#include "net_arp.h"
#include "net_namespace.h"

namespace sanpath::net {
namespace {

// Creates the socket inside the target's namespace and brings the thread back.
template <typename Socket, typename Open>
Socket OpenIn(const std::string& netns, Open open) {
  NamespaceVisit visit(netns);
  Socket socket = open();
  visit.Leave();
  return socket;
}

}  // namespace

AddressChangeOperation::AddressChangeOperation(AddressChangeKind kind, NetTarget target,
                                               std::vector<AddressChange> changes)
    : NetOperation(kind == AddressChangeKind::kAdd ? "address_add" : "address_delete", std::move(target)),
      kind_(kind),
      changes_(std::move(changes)) {}

void AddressChangeOperation::Execute(const Deadline& deadline) {
  auto socket = OpenIn<std::unique_ptr<RtnetlinkSocket>>(netns(), [] { return std::make_unique<RtnetlinkSocket>(); });
  answers_ = socket->ChangeAddresses(kind_, changes_, deadline);
}

Napi::Value AddressChangeOperation::Result(Napi::Env env) const {
  Napi::Array answers = Napi::Array::New(env, answers_.size());
  for (size_t at = 0; at < answers_.size(); at++) {
    const AddressAnswer& answer = answers_[at];
    Napi::Object object = Napi::Object::New(env);
    object.Set("errno", Napi::Number::New(env, answer.err));
    object.Set("code", ErrnoName(-answer.err));
    object.Set("step", answer.step);
    if (!answer.kernel_message.empty()) object.Set("kernelMessage", answer.kernel_message);
    answers.Set(static_cast<uint32_t>(at), object);
  }
  return answers;
}

AddressDumpOperation::AddressDumpOperation(NetTarget target) : NetOperation("address_dump", std::move(target)) {}

void AddressDumpOperation::Execute(const Deadline& deadline) {
  auto socket = OpenIn<std::unique_ptr<RtnetlinkSocket>>(netns(), [] { return std::make_unique<RtnetlinkSocket>(); });
  addresses_ = socket->DumpIpv4Addresses(deadline);
}

Napi::Value AddressDumpOperation::Result(Napi::Env env) const {
  Napi::Array addresses = Napi::Array::New(env, addresses_.size());
  for (size_t at = 0; at < addresses_.size(); at++) {
    const DumpedAddress& address = addresses_[at];
    Napi::Object object = Napi::Object::New(env);
    object.Set("ip", address.ip);
    object.Set("prefixLength", Napi::Number::New(env, address.prefix_length));
    object.Set("device", address.device);
    object.Set("ifindex", Napi::Number::New(env, address.ifindex));
    addresses.Set(static_cast<uint32_t>(at), object);
  }
  return addresses;
}

LinkIndexOperation::LinkIndexOperation(NetTarget target, std::string device)
    : NetOperation("link_index", std::move(target)), device_(std::move(device)) {}

void LinkIndexOperation::Execute(const Deadline& deadline) {
  auto socket = OpenIn<std::unique_ptr<RtnetlinkSocket>>(netns(), [] { return std::make_unique<RtnetlinkSocket>(); });
  index_ = socket->LinkIndex(device_, deadline);
}

Napi::Value LinkIndexOperation::Result(Napi::Env env) const {
  if (index_ == 0) return env.Null();
  return Napi::Number::New(env, index_);
}

GratuitousArpOperation::GratuitousArpOperation(NetTarget target, std::string device, in_addr ip)
    : NetOperation("gratuitous_arp", std::move(target)), device_(std::move(device)), ip_(ip) {}

void GratuitousArpOperation::Execute(const Deadline& deadline) {
  UniqueFd socket = OpenIn<UniqueFd>(netns(), [] { return OpenPacketSocket(); });
  SendGratuitousArp(socket, device_, ip_, deadline);
  CloseAfterSettling(std::move(socket));
}

Napi::Value GratuitousArpOperation::Result(Napi::Env env) const { return env.Undefined(); }

TcpSocketDestroyOperation::TcpSocketDestroyOperation(NetTarget target, std::vector<TcpSocketId> sockets)
    : NetOperation("tcp_destroy", std::move(target)), sockets_(std::move(sockets)) {}

void TcpSocketDestroyOperation::Execute(const Deadline& deadline) {
  auto socket = OpenIn<std::unique_ptr<SockDiagSocket>>(netns(), [] { return std::make_unique<SockDiagSocket>(); });
  answers_ = socket->DestroyTcp(sockets_, deadline);
}

Napi::Value TcpSocketDestroyOperation::Result(Napi::Env env) const {
  Napi::Array answers = Napi::Array::New(env, answers_.size());
  for (size_t at = 0; at < answers_.size(); at++) {
    const SocketDestroyAnswer& answer = answers_[at];
    Napi::Object object = Napi::Object::New(env);
    object.Set("errno", Napi::Number::New(env, answer.err));
    object.Set("code", ErrnoName(-answer.err));
    object.Set("step", answer.step);
    if (!answer.kernel_message.empty()) object.Set("kernelMessage", answer.kernel_message);
    answers.Set(static_cast<uint32_t>(at), object);
  }
  return answers;
}

}  // namespace sanpath::net
