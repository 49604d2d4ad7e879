// The calls the net addon exports, each an operation on a thread of its own (net_operation.h).
#pragma once

#include <napi.h>
#include <netinet/in.h>

#include <string>
#include <vector>

#include "net_operation.h"
#include "net_rtnetlink.h"
#include "net_sock_diag.h"

namespace sanpath::net {

// addAddresses / deleteAddresses: one answer per change ({ errno, code, step, kernelMessage? }).
class AddressChangeOperation : public NetOperation {
 public:
  AddressChangeOperation(AddressChangeKind kind, NetTarget target, std::vector<AddressChange> changes);

 private:
  void Execute(const Deadline& deadline) override;
  Napi::Value Result(Napi::Env env) const override;

  AddressChangeKind kind_;
  std::vector<AddressChange> changes_;
  std::vector<AddressAnswer> answers_;
};

// dumpAddresses: [{ ip, prefixLength, device, ifindex }].
class AddressDumpOperation : public NetOperation {
 public:
  explicit AddressDumpOperation(NetTarget target);

 private:
  void Execute(const Deadline& deadline) override;
  Napi::Value Result(Napi::Env env) const override;

  std::vector<DumpedAddress> addresses_;
};

// linkIndex: the index, or null when there is no such device.
class LinkIndexOperation : public NetOperation {
 public:
  LinkIndexOperation(NetTarget target, std::string device);

 private:
  void Execute(const Deadline& deadline) override;
  Napi::Value Result(Napi::Env env) const override;

  std::string device_;
  int index_ = 0;
};

// sendGratuitousArp: undefined once the frame is queued on the device.
class GratuitousArpOperation : public NetOperation {
 public:
  GratuitousArpOperation(NetTarget target, std::string device, in_addr ip);

 private:
  void Execute(const Deadline& deadline) override;
  Napi::Value Result(Napi::Env env) const override;

  std::string device_;
  in_addr ip_;
};

// destroyTcpSockets: one answer per socket ({ errno, code, step, kernelMessage? }).
class TcpSocketDestroyOperation : public NetOperation {
 public:
  TcpSocketDestroyOperation(NetTarget target, std::vector<TcpSocketId> sockets);

 private:
  void Execute(const Deadline& deadline) override;
  Napi::Value Result(Napi::Env env) const override;

  std::vector<TcpSocketId> sockets_;
  std::vector<SocketDestroyAnswer> answers_;
};

}  // namespace sanpath::net
