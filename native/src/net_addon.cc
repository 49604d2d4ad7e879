// sanpath_net: IPv4 addresses over rtnetlink, gratuitous ARP over AF_PACKET and TCP sockets
// destroyed over sock_diag for Node.js, each call on a thread of its own with a deadline.
// native/net.ts is its typed facade.
//   addAddresses(target, changes) / deleteAddresses(target, changes) -> Promise<answer[]>
//   dumpAddresses(target) -> Promise<address[]>
//   linkIndex(target, device) -> Promise<number | null>
//   sendGratuitousArp(target, device, ip) -> Promise<undefined>
//   destroyTcpSockets(target, sockets) -> Promise<answer[]>
//     socket = { localIp, localPort, remoteIp, remotePort } (IPv4, or IPv4-mapped IPv6)
// target = { netns?: string (a name under /run/netns), timeoutMs: integer 1..600000 }
#include <arpa/inet.h>
#include <napi.h>
#include <net/if.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "net_namespace.h"
#include "net_operations.h"

namespace sanpath::net {
namespace {

constexpr double kMaxTimeoutMs = 600000;
constexpr uint32_t kMaxChanges = 4096;
constexpr uint32_t kMaxSockets = 4096;

Napi::Error ArgumentError(const Napi::Env& env, const std::string& call, const std::string& rule) {
  return Napi::TypeError::New(env, call + ": " + rule);
}

NetTarget ParseTarget(const Napi::Env& env, const Napi::Value& value, const std::string& call) {
  if (!value.IsObject()) throw ArgumentError(env, call, "target must be an object");
  Napi::Object object = value.As<Napi::Object>();
  NetTarget target;
  Napi::Value netns = object.Get("netns");
  if (!netns.IsUndefined() && !netns.IsNull()) {
    if (!netns.IsString()) throw ArgumentError(env, call, "target.netns must be a string");
    target.netns = netns.As<Napi::String>().Utf8Value();
    if (!IsNamespaceName(target.netns)) {
      throw ArgumentError(env, call, "target.netns must name a namespace in /run/netns");
    }
  }
  Napi::Value timeout = object.Get("timeoutMs");
  if (!timeout.IsNumber()) throw ArgumentError(env, call, "target.timeoutMs must be a number");
  const double timeout_ms = timeout.As<Napi::Number>().DoubleValue();
  if (!(timeout_ms >= 1) || timeout_ms > kMaxTimeoutMs || std::floor(timeout_ms) != timeout_ms) {
    throw ArgumentError(env, call, "target.timeoutMs must be whole milliseconds in 1..600000");
  }
  target.timeout_ms = static_cast<int>(timeout_ms);
  return target;
}

// A name the kernel accepts for a device (dev_valid_name): 1..15 bytes, not "." or "..", no "/",
// ":" or white space.
std::string ParseDevice(const Napi::Env& env, const Napi::Value& value, const std::string& call) {
  if (!value.IsString()) throw ArgumentError(env, call, "device must be a string");
  std::string device = value.As<Napi::String>().Utf8Value();
  bool valid = !device.empty() && device.size() < IFNAMSIZ && device != "." && device != "..";
  for (char c : device) {
    if (c == '/' || c == ':' || c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
        c == '\f') {
      valid = false;
    }
  }
  if (!valid) throw ArgumentError(env, call, "device must be a device name of 1..15 characters");
  return device;
}

in_addr ParseIpv4(const Napi::Env& env, const Napi::Value& value, const std::string& call) {
  if (!value.IsString()) throw ArgumentError(env, call, "ip must be a string");
  in_addr ip{};
  if (inet_pton(AF_INET, value.As<Napi::String>().Utf8Value().c_str(), &ip) != 1) {
    throw ArgumentError(env, call, "ip must be an IPv4 address");
  }
  return ip;
}

// An IPv4 address, or an IPv4-mapped IPv6 one (::ffff:a.b.c.d) as its IPv4 address.
in_addr ParseIpv4OrMapped(const Napi::Env& env, const Napi::Value& value, const std::string& call,
                          const std::string& field) {
  if (!value.IsString()) throw ArgumentError(env, call, field + " must be a string");
  const std::string text = value.As<Napi::String>().Utf8Value();
  in_addr ip{};
  if (inet_pton(AF_INET, text.c_str(), &ip) == 1) return ip;
  in6_addr ipv6{};
  if (inet_pton(AF_INET6, text.c_str(), &ipv6) == 1 && IN6_IS_ADDR_V4MAPPED(&ipv6)) {
    std::memcpy(&ip, &ipv6.s6_addr[12], sizeof ip);
    return ip;
  }
  throw ArgumentError(env, call, field + " must be an IPv4 address");
}

uint16_t ParsePort(const Napi::Env& env, const Napi::Value& value, const std::string& call, const std::string& field) {
  if (!value.IsNumber()) throw ArgumentError(env, call, field + " must be a number");
  const double port = value.As<Napi::Number>().DoubleValue();
  if (!(port >= 1) || port > 65535 || std::floor(port) != port) {
    throw ArgumentError(env, call, field + " must be an integer in 1..65535");
  }
  return static_cast<uint16_t>(port);
}

std::vector<TcpSocketId> ParseSockets(const Napi::Env& env, const Napi::Value& value, const std::string& call) {
  if (!value.IsArray()) throw ArgumentError(env, call, "sockets must be an array");
  Napi::Array array = value.As<Napi::Array>();
  if (array.Length() > kMaxSockets) throw ArgumentError(env, call, "at most 4096 sockets per call");
  std::vector<TcpSocketId> sockets;
  sockets.reserve(array.Length());
  for (uint32_t at = 0; at < array.Length(); at++) {
    Napi::Value item = array.Get(at);
    if (!item.IsObject()) throw ArgumentError(env, call, "each socket must be an object");
    Napi::Object object = item.As<Napi::Object>();
    TcpSocketId socket;
    socket.local_ip = ParseIpv4OrMapped(env, object.Get("localIp"), call, "localIp");
    socket.local_port = ParsePort(env, object.Get("localPort"), call, "localPort");
    socket.remote_ip = ParseIpv4OrMapped(env, object.Get("remoteIp"), call, "remoteIp");
    socket.remote_port = ParsePort(env, object.Get("remotePort"), call, "remotePort");
    sockets.push_back(socket);
  }
  return sockets;
}

std::vector<AddressChange> ParseChanges(const Napi::Env& env, const Napi::Value& value, const std::string& call) {
  if (!value.IsArray()) throw ArgumentError(env, call, "changes must be an array");
  Napi::Array array = value.As<Napi::Array>();
  if (array.Length() > kMaxChanges) throw ArgumentError(env, call, "at most 4096 changes per call");
  std::vector<AddressChange> changes;
  changes.reserve(array.Length());
  for (uint32_t at = 0; at < array.Length(); at++) {
    Napi::Value item = array.Get(at);
    if (!item.IsObject()) throw ArgumentError(env, call, "each change must be an object");
    Napi::Object object = item.As<Napi::Object>();
    AddressChange change;
    change.device = ParseDevice(env, object.Get("device"), call);
    change.ip = ParseIpv4(env, object.Get("ip"), call);
    Napi::Value prefix = object.Get("prefixLength");
    if (!prefix.IsNumber()) throw ArgumentError(env, call, "prefixLength must be a number");
    const double prefix_length = prefix.As<Napi::Number>().DoubleValue();
    if (!(prefix_length >= 0) || prefix_length > 32 || std::floor(prefix_length) != prefix_length) {
      throw ArgumentError(env, call, "prefixLength must be an integer in 0..32");
    }
    change.prefix_length = static_cast<uint8_t>(prefix_length);
    changes.push_back(std::move(change));
  }
  return changes;
}

Napi::Value ChangeAddresses(const Napi::CallbackInfo& info, AddressChangeKind kind, const std::string& call) {
  Napi::Env env = info.Env();
  NetTarget target = ParseTarget(env, info[0], call);
  std::vector<AddressChange> changes = ParseChanges(env, info[1], call);
  return StartOnOwnThread(env, std::make_unique<AddressChangeOperation>(kind, std::move(target), std::move(changes)));
}

Napi::Value AddAddresses(const Napi::CallbackInfo& info) {
  return ChangeAddresses(info, AddressChangeKind::kAdd, "addAddresses");
}

Napi::Value DeleteAddresses(const Napi::CallbackInfo& info) {
  return ChangeAddresses(info, AddressChangeKind::kDelete, "deleteAddresses");
}

Napi::Value DumpAddresses(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return StartOnOwnThread(env, std::make_unique<AddressDumpOperation>(ParseTarget(env, info[0], "dumpAddresses")));
}

Napi::Value LinkIndex(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NetTarget target = ParseTarget(env, info[0], "linkIndex");
  std::string device = ParseDevice(env, info[1], "linkIndex");
  return StartOnOwnThread(env, std::make_unique<LinkIndexOperation>(std::move(target), std::move(device)));
}

Napi::Value SendGratuitousArp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NetTarget target = ParseTarget(env, info[0], "sendGratuitousArp");
  std::string device = ParseDevice(env, info[1], "sendGratuitousArp");
  in_addr ip = ParseIpv4(env, info[2], "sendGratuitousArp");
  return StartOnOwnThread(env,
                          std::make_unique<GratuitousArpOperation>(std::move(target), std::move(device), ip));
}

Napi::Value DestroyTcpSockets(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NetTarget target = ParseTarget(env, info[0], "destroyTcpSockets");
  std::vector<TcpSocketId> sockets = ParseSockets(env, info[1], "destroyTcpSockets");
  return StartOnOwnThread(env, std::make_unique<TcpSocketDestroyOperation>(std::move(target), std::move(sockets)));
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("addAddresses", Napi::Function::New(env, AddAddresses, "addAddresses"));
  exports.Set("deleteAddresses", Napi::Function::New(env, DeleteAddresses, "deleteAddresses"));
  exports.Set("dumpAddresses", Napi::Function::New(env, DumpAddresses, "dumpAddresses"));
  exports.Set("linkIndex", Napi::Function::New(env, LinkIndex, "linkIndex"));
  exports.Set("sendGratuitousArp", Napi::Function::New(env, SendGratuitousArp, "sendGratuitousArp"));
  exports.Set("destroyTcpSockets", Napi::Function::New(env, DestroyTcpSockets, "destroyTcpSockets"));
  return exports;
}

}  // namespace sanpath::net

static Napi::Object InitSanpathNet(Napi::Env env, Napi::Object exports) { return sanpath::net::Init(env, exports); }

NODE_API_MODULE(sanpath_net, InitSanpathNet)
