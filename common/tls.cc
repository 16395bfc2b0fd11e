#include "common/tls.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/config.h"

namespace care {
namespace {

struct BioCloser {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Closer {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyCloser {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioCloser>;
using X509Ptr = std::unique_ptr<X509, X509Closer>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyCloser>;

X509Ptr FirstCertificate(const std::string& path, absl::Status* error) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    *error = absl::NotFoundError(absl::StrCat("cannot read ", path));
    return nullptr;
  }
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (!cert) *error = absl::InvalidArgumentError(absl::StrCat(path, " holds no PEM certificate"));
  return cert;
}

// gRPC's provider takes whole seconds (and re-reads at least once a second).
unsigned int Seconds(absl::Duration d) {
  return static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(d)));
}

}  // namespace

absl::Status CheckCertificatesFile(const std::string& path) {
  absl::Status error;
  X509Ptr cert = FirstCertificate(path, &error);
  return cert ? absl::OkStatus() : error;
}

absl::Status CheckKeyPair(const std::string& cert_file, const std::string& key_file) {
  absl::Status error;
  X509Ptr cert = FirstCertificate(cert_file, &error);
  if (!cert) return error;
  BioPtr bio(BIO_new_file(key_file.c_str(), "r"));
  if (!bio) return absl::NotFoundError(absl::StrCat("cannot read ", key_file));
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (!key) return absl::InvalidArgumentError(absl::StrCat(key_file, " holds no unencrypted PEM private key"));
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(key_file, " is not the key of the certificate in ", cert_file));
  }
  return absl::OkStatus();
}

PeerTls ReadPeerTls(ConfigReader& c, absl::Duration reload_interval) {
  PeerTls tls;
  tls.reload_interval = reload_interval;
  tls.ca_file = c.String("peer_ca_file", "",
                         "PEM CA bundle other services' certificates must chain to (set: calls to them use TLS)");
  tls.cert_file = c.String("peer_cert_file", "",
                           "PEM client certificate presented to other services (mutual TLS); with peer_key_file");
  tls.key_file = c.String("peer_key_file", "", "PEM private key of peer_cert_file");
  tls.server_name = c.String("peer_tls_server_name", "",
                             "name every peer's certificate is checked against instead of the target's host "
                             "(for targets listing addresses, such as ipv4:10.0.0.1:50051,10.0.0.2:50051)");
  tls.enabled = !tls.ca_file.empty() || !tls.cert_file.empty();
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    c.AddError("peer_cert_file and peer_key_file go together");
  } else if (!tls.cert_file.empty()) {
    if (absl::Status s = CheckKeyPair(tls.cert_file, tls.key_file); !s.ok()) {
      c.AddError(absl::StrCat("peer_cert_file/peer_key_file: ", s.message()));
    }
  }
  if (!tls.ca_file.empty()) {
    if (absl::Status s = CheckCertificatesFile(tls.ca_file); !s.ok()) {
      c.AddError(absl::StrCat("peer_ca_file: ", s.message()));
    }
  }
  return tls;
}

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const ServerTls& tls) {
  using grpc::experimental::FileWatcherCertificateProvider;
  if (tls.cert_file.empty()) return grpc::InsecureServerCredentials();
  auto provider = tls.client_ca_file.empty()
                      ? std::make_shared<FileWatcherCertificateProvider>(tls.key_file, tls.cert_file,
                                                                         Seconds(tls.reload_interval))
                      : std::make_shared<FileWatcherCertificateProvider>(tls.key_file, tls.cert_file,
                                                                         tls.client_ca_file,
                                                                         Seconds(tls.reload_interval));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (tls.client_ca_file.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    // Fail closed: no certificate, or one not chaining to the CA, ends the
    // handshake before any call is read.
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const PeerTls& tls) {
  using grpc::experimental::FileWatcherCertificateProvider;
  if (!tls.enabled) return grpc::InsecureChannelCredentials();
  if (tls.ca_file.empty() && tls.cert_file.empty()) return grpc::SslCredentials(grpc::SslCredentialsOptions());
  unsigned int interval = Seconds(tls.reload_interval);
  std::shared_ptr<FileWatcherCertificateProvider> provider;
  if (tls.cert_file.empty()) {
    provider = std::make_shared<FileWatcherCertificateProvider>(tls.ca_file, interval);
  } else if (tls.ca_file.empty()) {
    provider = std::make_shared<FileWatcherCertificateProvider>(tls.key_file, tls.cert_file, interval);
  } else {
    provider = std::make_shared<FileWatcherCertificateProvider>(tls.key_file, tls.cert_file, tls.ca_file, interval);
  }
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  // Without a watched root the system roots are used; the server's name is
  // checked against its certificate either way (gRPC's default verifier).
  if (!tls.ca_file.empty()) options.watch_root_certs();
  if (!tls.cert_file.empty()) options.watch_identity_key_cert_pairs();
  return grpc::experimental::TlsCredentials(options);
}

grpc::ChannelArguments PeerChannelArguments(const PeerTls& tls, const std::string& health_service) {
  std::string name;
  for (char ch : health_service) {
    if (ch == '"' || ch == '\\') name.push_back('\\');
    name.push_back(ch);
  }
  // Retries are spaced 50..500ms: a replica that died is left by the next
  // attempt, while all replicas down still fails the call within a second.
  std::string config = absl::StrCat(
      R"({"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":")", name,
      R"("},"methodConfig":[{"name":[{}],"retryPolicy":{"maxAttempts":3,"initialBackoff":"0.05s",)",
      R"("maxBackoff":"0.5s","backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE"]}}]})");
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(config);
  // Ours, not one a DNS TXT record might carry.
  args.SetInt(GRPC_ARG_SERVICE_CONFIG_DISABLE_RESOLUTION, 1);
  // A replica that comes back (a restarted pod) is called again within
  // seconds, not after gRPC's default backoff of up to two minutes; a
  // dns:/// target is resolved again (pods replaced) on a replica's failure,
  // at most this often.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 5000);
  if (tls.enabled && !tls.server_name.empty()) {
    args.SetSslTargetNameOverride(tls.server_name);
    args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, tls.server_name);
  }
  return args;
}

std::shared_ptr<grpc::Channel> DialPeer(const std::string& target, const PeerTls& tls,
                                        const std::string& health_service) {
  return grpc::CreateCustomChannel(target, MakeChannelCredentials(tls), PeerChannelArguments(tls, health_service));
}

}  // namespace care
