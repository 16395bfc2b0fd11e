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
  absl::Duration reload_interval = absl::Seconds(60);
};

// Start-up checks, so a bad file stops the process (exit 2, naming the flag)
// instead of failing every handshake later. Each returns OK or why not.
// A PEM file holding at least one certificate.
absl::Status CheckCertificatesFile(const std::string& path);
// A certificate file and the private key that belongs to its first certificate.
absl::Status CheckKeyPair(const std::string& cert_file, const std::string& key_file);

// Declares --peer_ca_file, --peer_cert_file, --peer_key_file (and uses
// `reload_interval`), records configuration errors on `config`.
PeerTls ReadPeerTls(ConfigReader& config, absl::Duration reload_interval);

// Insecure when `tls.cert_file` is empty.
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const ServerTls& tls);
// Insecure when `!tls.enabled`; the system roots when no CA file is given.
std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const PeerTls& tls);
// A channel to "host:port" with MakeChannelCredentials(tls).
std::shared_ptr<grpc::Channel> DialPeer(const std::string& target, const PeerTls& tls);

}  // namespace care
