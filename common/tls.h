#pragma once

// Transport security every binary shares: the server side (TLS, optionally
// mutual) and the credentials of calls to other services. Certificates are
// read through gRPC's file-watcher provider, which re-reads the PEM files on
// an interval, so rotated files (a cert-manager renewal) take effect on new
// connections without a restart.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace care {

class ConfigReader;

// The server's certificate and, for mutual TLS, the CA its clients'
// certificates must chain to.
struct ServerTls {
  std::string cert_file, key_file;  // both set: the port speaks TLS
  std::string client_ca_file;       // set: a client must present a certificate signed by it
  absl::Duration reload_interval = absl::Seconds(60);
};

// How this process calls another service.
struct PeerTls {
  bool enabled = false;
  std::string ca_file;              // empty: the system roots
  std::string cert_file, key_file;  // both set: the client certificate presented
  // Checked against the peer's certificate (and sent as :authority) instead
  // of the target's host: needed when the target lists addresses
  // ("ipv4:10.0.0.1:50051,10.0.0.2:50051") rather than a name. "" = the target's.
  std::string server_name;
  absl::Duration reload_interval = absl::Seconds(60);
};

// Start-up checks, so a bad file stops the process (exit 2, naming the flag)
// instead of failing every handshake later. Each returns OK or why not.
// A PEM file holding at least one certificate.
absl::Status CheckCertificatesFile(const std::string& path);
// A certificate file and the private key that belongs to its first certificate.
absl::Status CheckKeyPair(const std::string& cert_file, const std::string& key_file);

// Declares --peer_ca_file, --peer_cert_file, --peer_key_file,
// --peer_tls_server_name (and uses
// `reload_interval`), records configuration errors on `config`.
PeerTls ReadPeerTls(ConfigReader& config, absl::Duration reload_interval);

// Insecure when `tls.cert_file` is empty.
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const ServerTls& tls);
// Insecure when `!tls.enabled`; the system roots when no CA file is given.
std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const PeerTls& tls);
// The arguments of every channel to a peer. The target may name several
// replicas ("dns:///loyalty-headless:50051" re-resolved as pods come and go,
// "ipv4:10.0.0.1:50051,10.0.0.2:50051", or one "host:port"): calls are spread
// round-robin over those whose grpc.health.v1 status of `health_service`
// is SERVING ("" = the server as a whole), so a dead, draining or not-ready
// replica gets none, and a call failing UNAVAILABLE (its replica died under
// it) is retried on another: every CareSuite mutation is idempotent.
grpc::ChannelArguments PeerChannelArguments(const PeerTls& tls, const std::string& health_service);
// A channel to `target` with MakeChannelCredentials(tls) and PeerChannelArguments.
std::shared_ptr<grpc::Channel> DialPeer(const std::string& target, const PeerTls& tls,
                                        const std::string& health_service = "");

}  // namespace care
