// Deployment artefacts: every kustomize overlay renders with
// `kubectl kustomize` (CARE_KUBECTL names another kubectl, e.g. Debian's 1.20
// with kustomize v2), and the rendered objects follow the operating rules
// (probes, requests and limits, security context, named ports, network
// policies that select real pods and allow each caller by name, a grace
// period longer than the drain; on SQLite one replica per service, on
// PostgreSQL several behind headless Services with budgets, spread and
// HPAs). Every overlay creates its namespace, lets notification reach the
// gateways its --egress_allowlist names (and DNS), and labels every object
// with the recommended app.kubernetes.io labels; production adds a PodMonitor
// and the alerts. The Grafana dashboard and the alert rules bind only to
// metrics the services export.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "clients/loyalty/tier_cache_metrics.h"
#include "common/egress.h"
#include "common/metrics.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/complaint/prometheus.h"
#include "services/loyalty/prometheus.h"
#include "services/notification/prometheus.h"

namespace {

const std::string kSource = CARE_SOURCE_DIR;

// The four services: health name, and whom each calls (design notes).
const std::map<std::string, std::string> kHealth = {{"loyalty", "care.loyalty.v1.LoyaltyService"},
                                                    {"promotion", "care.promotion.v1.PromotionService"},
                                                    {"complaint", "care.complaint.v1.ComplaintService"},
                                                    {"notification", "care.notification.v1.NotificationService"}};
const std::vector<std::pair<std::string, std::string>> kCalls =
    {{"promotion", "loyalty"},
     {"complaint", "loyalty"},
     {"complaint", "promotion"},
     {"complaint", "notification"},
     {"loyalty", "notification"},
     {"promotion", "notification"},
     {"notification", "loyalty"},
     {"loyalty", "redis"},
     {"promotion", "redis"},
     {"complaint", "redis"},
     {"notification", "redis"},
     // Erasure: loyalty's ErasePerson reaches the others through its outbox.
     {"loyalty", "promotion"},
     {"loyalty", "complaint"}};

std::string Kubectl() {
  const char* kubectl = std::getenv("CARE_KUBECTL");
  return kubectl != nullptr && *kubectl != '\0' ? kubectl : "kubectl";
}

bool HaveKubectl() { return std::system(("command -v " + Kubectl() + " >/dev/null 2>&1").c_str()) == 0; }

std::string ReadAll(FILE* f) {
  std::string out;
  char buf[8192];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  return out;
}

struct Rendered {
  std::vector<YAML::Node> objects;
  std::string error;
};

Rendered Render(const std::string& overlay) {
  Rendered r;
  std::string err = ::testing::TempDir() + "/kustomize." + overlay + ".err";
  std::string cmd = absl::StrCat(Kubectl(), " kustomize ", kSource, "/deploy/k8s/overlays/", overlay, " 2>", err);
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string yaml = ReadAll(p);
  int rc = ::pclose(p);
  if (rc != 0) {
    std::ifstream in(err);
    std::stringstream s;
    s << in.rdbuf();
    r.error = absl::StrCat(cmd, " failed: ", s.str());
    return r;
  }
  for (const YAML::Node& n : YAML::LoadAll(yaml)) {
    if (n.IsMap()) r.objects.push_back(n);
  }
  return r;
}

std::string Kind(const YAML::Node& o) { return o["kind"].as<std::string>(""); }
std::string Name(const YAML::Node& o) { return o["metadata"]["name"].as<std::string>(""); }

using LabelMap = std::map<std::string, std::string>;

LabelMap Labels(const YAML::Node& node) {
  LabelMap out;
  if (node && node.IsMap()) {
    for (const auto& kv : node) out[kv.first.as<std::string>()] = kv.second.as<std::string>("");
  }
  return out;
}

// A label selector (matchLabels and matchExpressions In/NotIn/Exists) against labels.
bool Matches(const YAML::Node& selector, const LabelMap& labels) {
  if (!selector || selector.IsNull()) return true;
  for (const auto& [k, v] : Labels(selector["matchLabels"])) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  if (selector["matchExpressions"]) {
    for (const auto& e : selector["matchExpressions"]) {
      std::string key = e["key"].as<std::string>();
      std::string op = e["operator"].as<std::string>();
      std::set<std::string> values;
      if (e["values"]) {
        for (const auto& v : e["values"]) values.insert(v.as<std::string>());
      }
      auto it = labels.find(key);
      if (op == "In" && (it == labels.end() || !values.count(it->second))) return false;
      if (op == "NotIn" && it != labels.end() && values.count(it->second)) return false;
      if (op == "Exists" && it == labels.end()) return false;
      if (op == "DoesNotExist" && it != labels.end()) return false;
    }
  }
  return true;
}

class OverlayTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!HaveKubectl()) {
      GTEST_SKIP() << "kubectl is not installed: tools/deps.sh installs it (Debian's kubernetes-client); "
                      "the manifests were not checked";
    }
    rendered_ = Render(GetParam());
    ASSERT_TRUE(rendered_.error.empty()) << rendered_.error;
    ASSERT_FALSE(rendered_.objects.empty());
  }

  std::vector<YAML::Node> OfKind(const std::string& kind) const {
    std::vector<YAML::Node> out;
    for (const auto& o : rendered_.objects) {
      if (Kind(o) == kind) out.push_back(o);
    }
    return out;
  }
  std::vector<YAML::Node> Workloads() const {
    auto out = OfKind("StatefulSet");
    for (const auto& d : OfKind("Deployment")) out.push_back(d);
    return out;
  }
  bool Exists(const std::string& kind, const std::string& name) const {
    for (const auto& o : OfKind(kind)) {
      if (Name(o) == name) return true;
    }
    return false;
  }
  // Pod labels of every workload's template.
  std::vector<LabelMap> Pods() const {
    std::vector<LabelMap> out;
    for (const auto& w : Workloads()) out.push_back(Labels(w["spec"]["template"]["metadata"]["labels"]));
    return out;
  }
  LabelMap PodOf(const std::string& app) const {
    for (const auto& pod : Pods()) {
      auto it = pod.find("app.kubernetes.io/name");
      if (it != pod.end() && it->second == app) return pod;
    }
    ADD_FAILURE() << "no pods of " << app;
    return {};
  }
  YAML::Node Workload(const std::string& name) const {
    for (const auto& w : Workloads()) {
      if (Name(w) == name) return w;
    }
    return YAML::Node();
  }
  // The environment of a workload's first container: its ConfigMaps, then
  // its own `env` values.
  std::map<std::string, std::string> Env(const YAML::Node& workload) const {
    std::map<std::string, std::string> env;
    const YAML::Node c = workload["spec"]["template"]["spec"]["containers"][0];
    for (const auto& from : c["envFrom"]) {
      std::string cm_name = from["configMapRef"]["name"].as<std::string>("");
      for (const auto& cm : OfKind("ConfigMap")) {
        if (Name(cm) != cm_name) continue;
        for (const auto& kv : cm["data"]) env[kv.first.as<std::string>()] = kv.second.as<std::string>("");
      }
    }
    for (const auto& e : c["env"]) env[e["name"].as<std::string>()] = e["value"].as<std::string>("");
    return env;
  }
  // Files of Secret volumes the workload's first container mounts: path ->
  // "<secretName>/<key>".
  std::map<std::string, std::string> MountedSecretFiles(const YAML::Node& workload) const {
    std::map<std::string, std::string> mounted;
    const YAML::Node pod = workload["spec"]["template"]["spec"];
    for (const auto& m : pod["containers"][0]["volumeMounts"]) {
      for (const auto& v : pod["volumes"]) {
        if (v["name"].as<std::string>("") != m["name"].as<std::string>("") || !v["secret"]) continue;
        for (const auto& item : v["secret"]["items"]) {
          mounted[m["mountPath"].as<std::string>() + "/" + item["path"].as<std::string>()] =
              v["secret"]["secretName"].as<std::string>() + "/" + item["key"].as<std::string>();
        }
      }
    }
    return mounted;
  }
  // The overlays that generate their Secrets from placeholder values.
  bool GeneratesSecrets() const { return GetParam() == "dev" || GetParam() == "postgres-dev"; }
  bool OnPostgres() const { return GetParam() == "postgres-dev" || GetParam() == "prod-postgres"; }
  // A PostgreSQL of the overlay's own (dev only); prod's is external.
  bool DatabaseInCluster() const { return GetParam() == "postgres-dev"; }
  // How many replicas of each service the overlay runs.
  int Replicas() const {
    if (GetParam() == "prod-postgres") return 3;
    return OnPostgres() ? 2 : 1;
  }
  // The namespace of the overlay's objects (the Namespace itself has none).
  std::string Namespace() const {
    for (const auto& o : rendered_.objects) {
      if (o["metadata"]["namespace"]) return o["metadata"]["namespace"].as<std::string>("");
    }
    return "";
  }
  // The drain deadline the services are configured with (the ConfigMap).
  absl::Duration DrainDeadline() const {
    for (const auto& cm : OfKind("ConfigMap")) {
      if (cm["data"]["CARE_DRAIN_DEADLINE"]) {
        absl::Duration d;
        if (absl::ParseDuration(cm["data"]["CARE_DRAIN_DEADLINE"].as<std::string>(), &d)) return d;
      }
    }
    return absl::Seconds(10);  // the binaries' default
  }

  Rendered rendered_;
};

TEST_P(OverlayTest, EveryContainerHasProbesResourcesAndALockedDownSecurityContext) {
  ASSERT_EQ(Workloads().size(), DatabaseInCluster() ? 6u : 5u) << "four services, redis (and postgres)";
  for (const auto& w : Workloads()) {
    const YAML::Node pod = w["spec"]["template"]["spec"];
    const YAML::Node pod_sc = pod["securityContext"];
    ASSERT_TRUE(pod["containers"] && pod["containers"].size() > 0) << Name(w);
    for (const auto& c : pod["containers"]) {
      std::string where = absl::StrCat(Kind(w), "/", Name(w), " container ", c["name"].as<std::string>(""));
      for (const char* probe : {"startupProbe", "livenessProbe", "readinessProbe"}) {
        EXPECT_TRUE(c[probe].IsDefined() && c[probe].IsMap()) << where << " lacks " << probe;
      }
      for (const char* section : {"requests", "limits"}) {
        for (const char* resource : {"cpu", "memory"}) {
          EXPECT_TRUE(c["resources"][section][resource].IsDefined())
              << where << " lacks " << section << "." << resource;
        }
      }
      const YAML::Node sc = c["securityContext"];
      EXPECT_TRUE(sc["runAsNonRoot"].as<bool>(false) || pod_sc["runAsNonRoot"].as<bool>(false)) << where;
      EXPECT_TRUE(sc["readOnlyRootFilesystem"].as<bool>(false)) << where;
      EXPECT_FALSE(sc["allowPrivilegeEscalation"].as<bool>(true)) << where;
      bool drops_all = false;
      if (sc["capabilities"]["drop"]) {
        for (const auto& d : sc["capabilities"]["drop"]) drops_all |= d.as<std::string>() == "ALL";
      }
      EXPECT_TRUE(drops_all) << where << " must drop ALL capabilities";
      std::string seccomp = sc["seccompProfile"]["type"].as<std::string>(
          pod_sc["seccompProfile"]["type"].as<std::string>(""));
      EXPECT_EQ(seccomp, "RuntimeDefault") << where;
      EXPECT_TRUE(c["lifecycle"]["preStop"].IsDefined()) << where << " lacks a preStop pause";
    }
    EXPECT_TRUE(Exists("ServiceAccount", pod["serviceAccountName"].as<std::string>(""))) << Name(w);
    // Every mounted volume is declared (a StatefulSet's claim templates count).
    std::set<std::string> volumes;
    for (const auto& v : pod["volumes"]) volumes.insert(v["name"].as<std::string>(""));
    for (const auto& t : w["spec"]["volumeClaimTemplates"]) volumes.insert(Name(t));
    for (const auto& c : pod["containers"]) {
      for (const auto& m : c["volumeMounts"]) {
        EXPECT_TRUE(volumes.count(m["name"].as<std::string>("")))
            << Name(w) << " mounts an undeclared volume " << m["name"];
      }
    }
  }
}

TEST_P(OverlayTest, ServicesHaveGrpcProbesTheirDataFolderConfigTokensAndABudget) {
  for (const auto& [name, health] : kHealth) {
    YAML::Node sts = Workload(name);
    ASSERT_TRUE(sts.IsDefined() && sts.IsMap()) << "no workload " << name;
    const YAML::Node c = sts["spec"]["template"]["spec"]["containers"][0];
    EXPECT_EQ(c["livenessProbe"]["grpc"]["service"].as<std::string>("?"), "") << name;
    EXPECT_EQ(c["readinessProbe"]["grpc"]["service"].as<std::string>(""), health) << name;
    EXPECT_TRUE(c["startupProbe"]["grpc"].IsDefined()) << name;
    bool mounts_data = false;
    for (const auto& m : c["volumeMounts"]) mounts_data |= m["name"].as<std::string>() == "data";
    EXPECT_TRUE(mounts_data) << name;
    // Configuration from the ConfigMap, tokens from the Secret.
    std::string config = c["envFrom"][0]["configMapRef"]["name"].as<std::string>("");
    EXPECT_TRUE(Exists("ConfigMap", config)) << name << " reads ConfigMap " << config;
    std::string secret;
    for (const auto& v : sts["spec"]["template"]["spec"]["volumes"]) {
      if (v["name"].as<std::string>("") == "tokens") secret = v["secret"]["secretName"].as<std::string>("");
    }
    EXPECT_EQ(secret.rfind("care-tokens", 0), 0u) << name << " reads tokens from " << secret;
    if (GeneratesSecrets()) {
      EXPECT_TRUE(Exists("Secret", secret)) << GetParam() << " generates " << secret;
    }
    // The grace period covers the preStop pause and the drain deadline.
    int64_t grace = sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as<int64_t>(30);
    int64_t pause = 0;
    for (const auto& arg : c["lifecycle"]["preStop"]["exec"]["command"]) {
      int64_t n;
      if (absl::SimpleAtoi(arg.as<std::string>(), &n)) pause = n;
    }
    EXPECT_GT(absl::Seconds(grace), DrainDeadline() + absl::Seconds(pause))
        << name << ": terminationGracePeriodSeconds " << grace << " vs drain " << DrainDeadline() << " + pause "
        << pause << "s";
    // Each workload has a disruption budget that selects it.
    bool budget = false;
    for (const auto& pdb : OfKind("PodDisruptionBudget")) {
      budget |= Matches(pdb["spec"]["selector"], PodOf(name));
    }
    EXPECT_TRUE(budget) << name << " has no PodDisruptionBudget";
  }
}

// issue 16, defect 3: each service presents its own peer token (principal
// svc:<name>, role peer), never a token shared with the backends.
TEST_P(OverlayTest, EachServicePresentsItsOwnPeerToken) {
  for (const auto& [name, health] : kHealth) {
    for (const auto& s : Workloads()) {
      if (Name(s) != name) continue;
      std::string want = "--service_token_file=/etc/care/tokens/" + name + "-peer-token";
      bool found = false;
      for (const auto& arg : s["spec"]["template"]["spec"]["containers"][0]["args"]) {
        found |= arg.as<std::string>() == want;
      }
      EXPECT_TRUE(found) << name << " lacks " << want;
    }
  }
  for (const auto& cm : OfKind("ConfigMap")) EXPECT_FALSE(cm["data"]["CARE_SERVICE_TOKEN_FILE"]) << Name(cm);
  if (!GeneratesSecrets()) return;
  for (const auto& secret : OfKind("Secret")) {
    if (Name(secret).rfind("care-tokens", 0) != 0) continue;
    std::string tokens = secret["data"]["tokens"].as<std::string>("");
    EXPECT_FALSE(tokens.empty());
    for (const auto& [name, health] : kHealth) {
      EXPECT_TRUE(secret["data"][name + "-peer-token"]) << "dev Secret lacks " << name << "-peer-token";
    }
  }
}

TEST_P(OverlayTest, EveryServicePortIsNamedAndEveryServiceSelectsPods) {
  for (const auto& s : OfKind("Service")) {
    std::set<std::string> names;
    for (const auto& p : s["spec"]["ports"]) {
      std::string n = p["name"].as<std::string>("");
      EXPECT_FALSE(n.empty()) << "Service " << Name(s) << " has an unnamed port " << p["port"].as<std::string>("");
      names.insert(n);
    }
    if (kHealth.count(Name(s))) {
      EXPECT_TRUE(names.count("grpc")) << Name(s);
      EXPECT_TRUE(names.count("metrics")) << Name(s);
    }
    // A Service selector is a plain label map.
    LabelMap selector = Labels(s["spec"]["selector"]);
    bool selects = false;
    for (const auto& pod : Pods()) {
      selects |= !selector.empty() && std::all_of(selector.begin(), selector.end(), [&](const auto& kv) {
        auto it = pod.find(kv.first);
        return it != pod.end() && it->second == kv.second;
      });
    }
    EXPECT_TRUE(selects) << "Service " << Name(s) << " selects no pods";
  }
}

TEST_P(OverlayTest, NetworkPoliciesDenyAllThenAllowEachCallerByName) {
  auto policies = OfKind("NetworkPolicy");
  bool deny_all = false;
  for (const auto& np : policies) {
    const YAML::Node spec = np["spec"];
    bool empty_selector = !spec["podSelector"] || spec["podSelector"].size() == 0;
    std::set<std::string> types;
    for (const auto& t : spec["policyTypes"]) types.insert(t.as<std::string>());
    if (empty_selector && types.count("Ingress") && types.count("Egress") && !spec["ingress"] && !spec["egress"]) {
      deny_all = true;
    }
    // Every policy selects pods that exist, and so does every in-namespace peer.
    bool selects = false;
    for (const auto& pod : Pods()) selects |= Matches(spec["podSelector"], pod);
    EXPECT_TRUE(selects) << "NetworkPolicy " << Name(np) << " selects no pods";
    for (const char* direction : {"ingress", "egress"}) {
      for (const auto& rule : spec[direction]) {
        for (const auto& peer : rule[std::string(direction) == "ingress" ? "from" : "to"]) {
          if (peer["namespaceSelector"] || !peer["podSelector"]) continue;  // other namespaces
          bool peer_exists = false;
          for (const auto& pod : Pods()) peer_exists |= Matches(peer["podSelector"], pod);
          EXPECT_TRUE(peer_exists) << "NetworkPolicy " << Name(np) << " names a peer that matches no pod";
        }
      }
    }
  }
  EXPECT_TRUE(deny_all) << "no default deny-all NetworkPolicy";

  // `from` may reach `to`: an egress rule on `from`'s pods and an ingress rule on `to`'s.
  auto allowed = [&](const LabelMap& self, const LabelMap& other, const char* direction) {
    for (const auto& np : policies) {
      if (!Matches(np["spec"]["podSelector"], self)) continue;
      for (const auto& rule : np["spec"][direction]) {
        for (const auto& peer : rule[std::string(direction) == "ingress" ? "from" : "to"]) {
          if (!peer["namespaceSelector"] && peer["podSelector"] && Matches(peer["podSelector"], other)) return true;
        }
      }
    }
    return false;
  };
  std::set<std::pair<std::string, std::string>> expected(kCalls.begin(), kCalls.end());
  std::vector<std::string> apps = {"loyalty", "promotion", "complaint", "notification", "redis"};
  if (DatabaseInCluster()) {
    apps.push_back("postgres");
    for (const auto& [name, health] : kHealth) expected.insert({name, "postgres"});
  }
  for (const auto& from : apps) {
    for (const auto& to : apps) {
      if (from == to) continue;
      bool egress = allowed(PodOf(from), PodOf(to), "egress");
      bool ingress = allowed(PodOf(to), PodOf(from), "ingress");
      if (expected.count({from, to})) {
        EXPECT_TRUE(egress) << from << " may not call " << to << " (egress)";
        EXPECT_TRUE(ingress) << to << " does not accept " << from << " (ingress)";
      } else {
        EXPECT_FALSE(egress && ingress) << from << " -> " << to << " is allowed but is no dependency";
      }
    }
  }
}

// Issue 16, defect 8: a pod reads only the Secret keys it needs. The tokens
// Secret is mounted key by key: the tokens file every server checks callers
// against, the pod's own peer token (<service>-peer-token), the quote
// signing key in promotion alone and the unsubscribe link key in notification
// alone. Before, every pod mounted the whole Secret.
TEST_P(OverlayTest, EachPodMountsOnlyTheSecretKeysItNeeds) {
  for (const auto& [name, health] : kHealth) {
    YAML::Node sts = Workload(name);
    ASSERT_TRUE(sts.IsDefined()) << name;
    std::set<std::string> keys;
    bool whole_secret = false;
    for (const auto& v : sts["spec"]["template"]["spec"]["volumes"]) {
      if (!v["secret"]) continue;
      std::string secret = v["secret"]["secretName"].as<std::string>("");
      if (secret.rfind("care-tokens", 0) != 0) continue;
      if (!v["secret"]["items"]) whole_secret = true;
      for (const auto& item : v["secret"]["items"]) {
        keys.insert(item["key"].as<std::string>(""));
        if (item["key"].as<std::string>("") == name + "-peer-token") {
          EXPECT_EQ(item["path"].as<std::string>(""), name + "-peer-token") << name;
        }
      }
    }
    EXPECT_FALSE(whole_secret) << name << " mounts every key of the tokens Secret";
    // The tombstone key: every service erases people (docs/privacy.md).
    std::set<std::string> want = {"tokens", name + "-peer-token", "privacy-key"};
    if (name == "promotion") want.insert("quote-secret");
    // The List-Unsubscribe link key: notification alone signs and checks them.
    if (name == "notification") want.insert("unsubscribe-key");
    // Redis AUTH and the tier cache key: the three services that use the cache.
    if (name != "notification") want.insert({"redis-password", "tier-cache-key"});
    EXPECT_EQ(keys, want) << name;
    // Every secret file the container is told to read is one it mounts (a
    // path to an unmounted key stops the pod at start-up).
    std::map<std::string, std::string> env = Env(sts);
    std::vector<std::string> paths;
    paths.reserve(env.size());
    for (const auto& [var, value] : env) paths.push_back(value);
    for (const auto& c : sts["spec"]["template"]["spec"]["containers"]) {
      for (const auto& arg : c["args"]) {
        std::string a = arg.as<std::string>("");
        if (auto eq = a.find('='); eq != std::string::npos) paths.push_back(a.substr(eq + 1));
      }
    }
    const std::string dir = "/etc/care/tokens/";
    for (const std::string& path : paths) {
      if (path.rfind(dir, 0) != 0) continue;
      EXPECT_TRUE(keys.count(path.substr(dir.size())) == 1) << name << " reads " << path << " but does not mount it";
    }
    // The quote key's path is configured for promotion alone.
    EXPECT_EQ(env.count("CARE_QUOTE_TOKEN_SECRET_FILE"), name == "promotion" ? 1u : 0u) << name;
    // Without the tombstone key the service refuses to start.
    EXPECT_EQ(env["CARE_PRIVACY_KEY_FILE"], "/etc/care/tokens/privacy-key") << name;
  }
  if (GeneratesSecrets()) {
    // The generated Secret holds each key the pods mount.
    for (const auto& secret : OfKind("Secret")) {
      if (Name(secret).rfind("care-tokens", 0) != 0) continue;
      for (const auto& [name, health] : kHealth) {
        EXPECT_TRUE(secret["data"][name + "-peer-token"].IsDefined()) << name;
      }
      EXPECT_TRUE(secret["data"]["tokens"].IsDefined());
      EXPECT_TRUE(secret["data"]["quote-secret"].IsDefined());
      EXPECT_TRUE(secret["data"]["privacy-key"].IsDefined());
    }
  }
}

// Issue 16, defect 6: prod serves mutual TLS on every service with the
// service's own certificate Secret (a cert-manager Certificate with an
// Issuer), calls the others with it, and keeps kubelet's gRPC probes on the
// plaintext health port.
TEST_P(OverlayTest, ProdRunsMutualTlsWithACertificatePerService) {
  if (GetParam() != "prod" && GetParam() != "prod-postgres") GTEST_SKIP() << GetParam() << " runs plaintext";
  for (const auto& [name, health] : kHealth) {
    YAML::Node sts = Workload(name);
    ASSERT_TRUE(sts.IsDefined()) << name;
    std::map<std::string, std::string> env = Env(sts);
    for (const char* flag : {"CARE_TLS_CERT_FILE", "CARE_TLS_KEY_FILE", "CARE_TLS_CLIENT_CA_FILE", "CARE_PEER_CA_FILE",
                             "CARE_PEER_CERT_FILE", "CARE_PEER_KEY_FILE"}) {
      EXPECT_FALSE(env[flag].empty()) << name << " lacks " << flag;
    }
    // Each file lies in a mounted key of this service's own certificate Secret.
    std::map<std::string, std::string> mounted = MountedSecretFiles(sts);
    const YAML::Node pod = sts["spec"]["template"]["spec"];
    const std::string own = name + "-tls/";
    EXPECT_EQ(mounted[env["CARE_TLS_CERT_FILE"]], own + "tls.crt") << name;
    EXPECT_EQ(mounted[env["CARE_TLS_KEY_FILE"]], own + "tls.key") << name;
    EXPECT_EQ(mounted[env["CARE_TLS_CLIENT_CA_FILE"]], own + "ca.crt") << name;
    EXPECT_EQ(mounted[env["CARE_PEER_CA_FILE"]], own + "ca.crt") << name;
    EXPECT_EQ(mounted[env["CARE_PEER_CERT_FILE"]], own + "tls.crt") << name;
    EXPECT_EQ(mounted[env["CARE_PEER_KEY_FILE"]], own + "tls.key") << name;
    // No pod mounts another service's certificate.
    for (const auto& [file, source] : mounted) {
      if (absl::EndsWith(source, "/tls.key")) {
        EXPECT_EQ(source, own + "tls.key") << name;
      }
    }
    // A Certificate writes that Secret, for the service's name, from an Issuer.
    bool certified = false;
    for (const auto& cert : OfKind("Certificate")) {
      if (cert["spec"]["secretName"].as<std::string>("") != name + "-tls") continue;
      certified = true;
      EXPECT_FALSE(cert["spec"]["issuerRef"]["name"].as<std::string>("").empty()) << name;
      std::set<std::string> dns;
      for (const auto& d : cert["spec"]["dnsNames"]) dns.insert(d.as<std::string>());
      EXPECT_TRUE(dns.count(name)) << name << ": peers dial " << name << ":<port>";
      if (OnPostgres()) {
        const std::string headless = name + "-headless." + Namespace() + ".svc.cluster.local";
        EXPECT_TRUE(dns.count(headless)) << name << ": callers balancing over the replicas dial " << headless;
      }
      std::set<std::string> usages;
      for (const auto& u : cert["spec"]["usages"]) usages.insert(u.as<std::string>());
      EXPECT_TRUE(usages.count("server auth") && usages.count("client auth")) << name;
    }
    EXPECT_TRUE(certified) << "no Certificate writes " << name << "-tls";
    // Kubelet's probes cannot present a certificate: they use the health port.
    int health_port = 0;
    ASSERT_TRUE(absl::SimpleAtoi(env["CARE_HEALTH_PORT"], &health_port)) << name;
    for (const char* probe : {"startupProbe", "livenessProbe", "readinessProbe"}) {
      EXPECT_EQ(pod["containers"][0][probe]["grpc"]["port"].as<int>(0), health_port) << name << " " << probe;
    }
  }
}

// Issue 19: on PostgreSQL each service connects to its own database with a
// URL that holds no password; the password is a file from a Secret (the one
// the dev database is initialised with), never in a ConfigMap.
TEST_P(OverlayTest, PostgresDevGivesEachServiceItsDatabaseAndAPasswordFileFromASecret) {
  if (!DatabaseInCluster()) GTEST_SKIP() << GetParam() << " has no database of its own";
  std::set<std::string> passwords;
  for (const auto& [name, health] : kHealth) {
    YAML::Node sts = Workload(name);
    ASSERT_TRUE(sts.IsDefined()) << name;
    std::map<std::string, std::string> env = Env(sts);
    const std::string url = env["CARE_DATABASE_URL"];
    // postgresql://<user>@<host>:5432/<service>?sslmode=...
    std::smatch m;
    ASSERT_TRUE(std::regex_match(url, m, std::regex(R"(postgresql://([^@/]+)@([a-z0-9.-]+):(\d+)/([a-z_]+)\?(.*))")))
        << name << ": CARE_DATABASE_URL " << url;
    EXPECT_EQ(m[1].str().find(':'), std::string::npos) << name << ": a password in the URL";
    EXPECT_TRUE(Exists("Service", m[2].str())) << name << " connects to " << m[2].str() << ", no Service";
    EXPECT_EQ(m[3].str(), "5432") << name;
    EXPECT_EQ(m[4].str(), name) << name << ": one database per service";
    EXPECT_TRUE(absl::StrContains(m[5].str(), "sslmode=")) << name << ": sslmode is explicit";
    EXPECT_FALSE(absl::StrContains(absl::AsciiStrToLower(m[5].str()), "password")) << name;
    // The password file is a mounted key of a generated Secret.
    const std::string file = env["CARE_DATABASE_PASSWORD_FILE"];
    ASSERT_FALSE(file.empty()) << name << " lacks CARE_DATABASE_PASSWORD_FILE";
    std::map<std::string, std::string> mounted = MountedSecretFiles(sts);
    ASSERT_TRUE(mounted.count(file)) << name << " reads " << file << " but mounts no Secret key there";
    const std::string secret_name = mounted[file].substr(0, mounted[file].find('/'));
    const std::string key = mounted[file].substr(secret_name.size() + 1);
    for (const auto& secret : OfKind("Secret")) {
      if (Name(secret) != secret_name) continue;
      std::string b64 = secret["data"][key].as<std::string>("");
      b64.erase(std::remove_if(b64.begin(), b64.end(), [](unsigned char c) { return absl::ascii_isspace(c); }),
                b64.end());
      std::string password;
      ASSERT_TRUE(absl::Base64Unescape(b64, &password)) << secret_name << "/" << key;
      EXPECT_TRUE(absl::StrContains(password, "dev-only")) << "the dev password is marked dev-only";
      passwords.insert(password);
    }
    EXPECT_EQ(env.count("CARE_DATABASE_PASSWORD"), 0u) << name;
    // The database's own password comes from the same Secret key.
    YAML::Node pg = Workload("postgres");
    ASSERT_TRUE(pg.IsDefined());
    std::map<std::string, std::string> pg_env = Env(pg);
    EXPECT_EQ(MountedSecretFiles(pg)[pg_env["POSTGRES_PASSWORD_FILE"]], mounted[file]) << name;
  }
  ASSERT_EQ(passwords.size(), 1u) << "the services' password Secret is generated in postgres-dev";
  const std::string& password = *passwords.begin();
  for (const auto& cm : OfKind("ConfigMap")) {
    for (const auto& kv : cm["data"]) {
      EXPECT_FALSE(absl::StrContains(kv.second.as<std::string>(""), password))
          << "the password is in ConfigMap " << Name(cm);
    }
  }
  for (const auto& w : Workloads()) {
    for (const auto& e : w["spec"]["template"]["spec"]["containers"][0]["env"]) {
      EXPECT_FALSE(absl::StrContains(e["value"].as<std::string>(""), password)) << Name(w) << " env " << e["name"];
    }
  }
}

// Whether `rule` (a NetworkPolicy ingress or egress rule) opens `port` of a
// container with `ports` (names resolve against it); no `ports` opens all.
bool RuleOpensPort(const YAML::Node& rule, int port, const YAML::Node& container) {
  if (!rule["ports"]) return true;
  for (const auto& p : rule["ports"]) {
    std::string value = p["port"].as<std::string>("");
    int n = 0;
    if (absl::SimpleAtoi(value, &n) && n == port) return true;
    for (const auto& cp : container["ports"]) {
      if (cp["name"].as<std::string>("") == value && cp["containerPort"].as<int>(0) == port) return true;
    }
  }
  return false;
}

// Production on PostgreSQL: each service connects as its own role to its
// own database of an external server, with TLS that checks the server's name
// against a CA mounted from the same out-of-band Secret as its password.
TEST_P(OverlayTest, ProdPostgresConnectsWithVerifyFullAndItsOwnPasswordFromASecret) {
  if (GetParam() != "prod-postgres") GTEST_SKIP() << GetParam() << " is not production on PostgreSQL";
  std::set<std::string> password_keys;
  for (const auto& [name, health] : kHealth) {
    YAML::Node w = Workload(name);
    ASSERT_TRUE(w.IsMap()) << "no workload " << name;
    std::map<std::string, std::string> env = Env(w);
    const std::string url = env["CARE_DATABASE_URL"];
    std::smatch m;
    ASSERT_TRUE(std::regex_match(url, m, std::regex(R"(postgresql://([a-z_]+)@([a-z0-9.-]+):5432/([a-z_]+)\?(.*))")))
        << name << ": CARE_DATABASE_URL " << url;
    EXPECT_EQ(m[1].str(), name) << name << " connects as its own role";
    EXPECT_EQ(m[3].str(), name) << name << ": one database per service";
    EXPECT_FALSE(Exists("Service", m[2].str())) << name << ": the database is external, not in this overlay";
    std::map<std::string, std::string> params;
    for (absl::string_view kv : absl::StrSplit(m[4].str(), '&')) {
      std::pair<std::string, std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
      params[p.first] = p.second;
    }
    EXPECT_EQ(params["sslmode"], "verify-full") << name;
    std::map<std::string, std::string> mounted = MountedSecretFiles(w);
    ASSERT_FALSE(params["sslrootcert"].empty()) << name << ": verify-full needs the server's CA";
    EXPECT_EQ(mounted[params["sslrootcert"]], "care-database/ca.crt") << name << " reads the CA from the Secret";
    const std::string file = env["CARE_DATABASE_PASSWORD_FILE"];
    ASSERT_FALSE(file.empty()) << name;
    EXPECT_EQ(mounted[file], "care-database/" + name + "-password") << name << " reads its own password";
    password_keys.insert(mounted[file]);
    // Nothing else of the Secret: no other role's password.
    for (const auto& [path, source] : mounted) {
      if (absl::StartsWith(source, "care-database/")) {
        EXPECT_TRUE(path == file || path == params["sslrootcert"]) << name << " mounts " << source;
      }
    }
  }
  EXPECT_EQ(password_keys.size(), kHealth.size());
  EXPECT_FALSE(Exists("Secret", "care-database")) << "production creates the database Secret out of band";
}

// With an external database every replica of each service may open
// connections to it on 5432 (to another namespace or an address block).
TEST_P(OverlayTest, ProdPostgresLetsEveryServiceReachTheExternalDatabase) {
  if (GetParam() != "prod-postgres") GTEST_SKIP() << GetParam() << " is not production on PostgreSQL";
  for (const auto& [name, health] : kHealth) {
    const LabelMap pod = PodOf(name);
    const YAML::Node container = Workload(name)["spec"]["template"]["spec"]["containers"][0];
    bool egress = false;
    for (const auto& np : OfKind("NetworkPolicy")) {
      if (!Matches(np["spec"]["podSelector"], pod)) continue;
      for (const auto& rule : np["spec"]["egress"]) {
        if (!rule["ports"] || !RuleOpensPort(rule, 5432, container)) continue;
        for (const auto& peer : rule["to"]) egress |= peer["namespaceSelector"] || peer["ipBlock"];
      }
    }
    EXPECT_TRUE(egress) << name << " may not reach the database on 5432";
  }
}

TEST_P(OverlayTest, PostgresDevLetsOnlyTheServicesReachPostgresOn5432) {
  if (!DatabaseInCluster()) GTEST_SKIP() << GetParam() << " has no database of its own";
  YAML::Node pg = Workload("postgres");
  ASSERT_TRUE(pg.IsDefined());
  const YAML::Node pg_container = pg["spec"]["template"]["spec"]["containers"][0];
  const LabelMap pg_pod = PodOf("postgres");
  for (const auto& [name, health] : kHealth) {
    const LabelMap pod = PodOf(name);
    bool egress = false;
    bool ingress = false;
    for (const auto& np : OfKind("NetworkPolicy")) {
      for (const auto& rule : np["spec"]["egress"]) {
        if (!Matches(np["spec"]["podSelector"], pod) || !RuleOpensPort(rule, 5432, pg_container)) continue;
        for (const auto& peer : rule["to"])
          egress |= !peer["namespaceSelector"] && Matches(peer["podSelector"], pg_pod);
      }
      for (const auto& rule : np["spec"]["ingress"]) {
        if (!Matches(np["spec"]["podSelector"], pg_pod) || !RuleOpensPort(rule, 5432, pg_container)) continue;
        for (const auto& peer : rule["from"])
          ingress |= !peer["namespaceSelector"] && Matches(peer["podSelector"], pod);
      }
    }
    EXPECT_TRUE(egress) << name << " may not reach postgres:5432 (egress)";
    EXPECT_TRUE(ingress) << "postgres does not accept " << name << " on 5432 (ingress)";
  }
  // Nothing else gets in: every ingress peer of postgres is a pod of this
  // namespace that is one of the four services.
  for (const auto& np : OfKind("NetworkPolicy")) {
    if (!Matches(np["spec"]["podSelector"], pg_pod)) continue;
    for (const auto& rule : np["spec"]["ingress"]) {
      ASSERT_TRUE(rule["from"]) << Name(np) << " lets anyone reach postgres";
      for (const auto& peer : rule["from"]) {
        EXPECT_TRUE(peer["podSelector"] && !peer["namespaceSelector"] && !peer["ipBlock"]) << Name(np);
        for (const auto& other : Pods()) {
          auto app = other.find("app.kubernetes.io/name");
          if (Matches(peer["podSelector"], other) && app != other.end()) {
            EXPECT_TRUE(kHealth.count(app->second)) << Name(np) << " lets " << app->second << " reach postgres";
          }
        }
      }
    }
  }
}

// --- Replicas ----------------------------------------------------------------

// SQLite has one writer per file (the database refuses a second process): on
// SQLite each service stays a single-replica StatefulSet with its volume and
// nothing scales it.
TEST_P(OverlayTest, OnSqliteEachServiceIsOneStatefulSetReplicaThatNothingScales) {
  if (OnPostgres()) GTEST_SKIP() << GetParam() << " runs on PostgreSQL";
  for (const auto& [name, health] : kHealth) {
    YAML::Node w = Workload(name);
    ASSERT_TRUE(w.IsMap()) << "no workload " << name;
    EXPECT_EQ(Kind(w), "StatefulSet") << name;
    EXPECT_EQ(w["spec"]["replicas"].as<int>(0), 1) << name << ": one replica";
    EXPECT_TRUE(w["spec"]["volumeClaimTemplates"].IsDefined()) << name << ": its SQLite file on a volume";
    // `kubectl scale` would give a second pod a claim (and a database) of its
    // own: a required anti-affinity to its own pods on a key every node
    // carries keeps it Pending.
    bool one_per_cluster = false;
    const YAML::Node rules =
        w["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
    for (const auto& rule : rules) {
      one_per_cluster |= rule["topologyKey"].as<std::string>("") == "kubernetes.io/os" &&
                         Matches(rule["labelSelector"], PodOf(name)) && !rule["namespaceSelector"];
    }
    EXPECT_TRUE(one_per_cluster) << name << ": nothing keeps a second SQLite pod from running";
  }
  for (const auto& hpa : OfKind("HorizontalPodAutoscaler")) {
    EXPECT_FALSE(kHealth.count(hpa["spec"]["scaleTargetRef"]["name"].as<std::string>("")))
        << "HPA " << Name(hpa) << " scales a service on SQLite";
  }
}

// On PostgreSQL each service is a Deployment of several replicas that never
// rolls below its count, with no volume claim.
TEST_P(OverlayTest, OnPostgresEachServiceIsADeploymentOfSeveralReplicas) {
  if (!OnPostgres()) GTEST_SKIP() << GetParam() << " runs on SQLite";
  for (const auto& [name, health] : kHealth) {
    YAML::Node w = Workload(name);
    ASSERT_TRUE(w.IsMap()) << "no workload " << name;
    EXPECT_EQ(Kind(w), "Deployment") << name;
    EXPECT_GE(w["spec"]["replicas"].as<int>(0), 2) << name;
    EXPECT_EQ(w["spec"]["replicas"].as<int>(0), Replicas()) << name;
    EXPECT_FALSE(w["spec"]["volumeClaimTemplates"].IsDefined()) << name;
    EXPECT_FALSE(w["spec"]["serviceName"].IsDefined()) << name << ": a StatefulSet field";
    EXPECT_TRUE(Matches(w["spec"]["selector"], PodOf(name))) << name << "'s selector misses its pods";
    EXPECT_EQ(w["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"].as<std::string>("?"), "0") << name;
    EXPECT_FALSE(Env(w)["CARE_DATABASE_URL"].empty()) << name << " is not on PostgreSQL";
    EXPECT_FALSE(w["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"].IsDefined())
        << name << ": the SQLite variant's one-pod rule would keep the other replicas Pending";
    // Job leases name their holder: the pod's name (the downward API).
    std::string replica_id;
    for (const auto& e : w["spec"]["template"]["spec"]["containers"][0]["env"]) {
      if (e["name"].as<std::string>("") == "CARE_REPLICA_ID") {
        replica_id = e["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>("");
      }
    }
    EXPECT_EQ(replica_id, "metadata.name") << name << ": CARE_REPLICA_ID is not the pod's name";
  }
}

// Callers balance over the replicas themselves: a headless Service per
// Deployment selecting its pods, and every peer target a dns:/// URI of it.
TEST_P(OverlayTest, OnPostgresCallersBalanceOverHeadlessServices) {
  if (!OnPostgres()) GTEST_SKIP() << GetParam() << " runs on SQLite";
  const std::map<std::string, std::string> target_var = {{"loyalty", "CARE_LOYALTY_TARGET"},
                                                         {"promotion", "CARE_PROMOTION_TARGET"},
                                                         {"complaint", "CARE_COMPLAINT_TARGET"},
                                                         {"notification", "CARE_NOTIFICATION_TARGET"}};
  for (const auto& [name, health] : kHealth) {
    YAML::Node headless;
    for (const auto& svc : OfKind("Service")) {
      if (Name(svc) == name + "-headless") headless = svc;
    }
    ASSERT_TRUE(headless.IsMap()) << "no Service " << name << "-headless";
    EXPECT_EQ(headless["spec"]["clusterIP"].as<std::string>(""), "None") << name;
    EXPECT_FALSE(headless["spec"]["publishNotReadyAddresses"].as<bool>(false)) << name << ": ready pods only";
    LabelMap selector = Labels(headless["spec"]["selector"]);
    LabelMap pod = PodOf(name);
    ASSERT_FALSE(selector.empty()) << name;
    for (const auto& [k, v] : selector) EXPECT_EQ(pod[k], v) << name << "-headless misses its pods";
    int port = 0;
    for (const auto& p : headless["spec"]["ports"]) {
      if (p["name"].as<std::string>("") == "grpc") port = p["port"].as<int>(0);
    }
    int container_port = 0;
    for (const auto& p : Workload(name)["spec"]["template"]["spec"]["containers"][0]["ports"]) {
      if (p["name"].as<std::string>("") == "grpc") container_port = p["containerPort"].as<int>(0);
    }
    EXPECT_EQ(port, container_port) << name << "-headless: DNS gives pod addresses, callers dial the pod port";
    const std::string want = absl::StrCat("dns:///", name, "-headless.", Namespace(), ".svc.cluster.local:", port);
    for (const auto& [caller, h] : kHealth) {
      if (caller == name) continue;
      EXPECT_EQ(Env(Workload(caller))[target_var.at(name)], want) << caller << "'s target for " << name;
    }
  }
}

// Every caller's egress and the callee's ingress open the pod port itself:
// with client-side balancing the connections go to the pods, not a Service.
TEST_P(OverlayTest, OnPostgresPeersReachEveryReplicaOnItsPodPort) {
  if (!OnPostgres()) GTEST_SKIP() << GetParam() << " runs on SQLite";
  for (const auto& [from, to] : kCalls) {
    if (!kHealth.count(to)) continue;
    const YAML::Node callee = Workload(to)["spec"]["template"]["spec"]["containers"][0];
    int port = 0;
    for (const auto& p : callee["ports"]) {
      if (p["name"].as<std::string>("") == "grpc") port = p["containerPort"].as<int>(0);
    }
    bool egress = false, ingress = false;
    for (const auto& np : OfKind("NetworkPolicy")) {
      for (const auto& rule : np["spec"]["egress"]) {
        if (!Matches(np["spec"]["podSelector"], PodOf(from)) || !RuleOpensPort(rule, port, callee)) continue;
        for (const auto& peer : rule["to"])
          egress |= !peer["namespaceSelector"] && Matches(peer["podSelector"], PodOf(to));
      }
      for (const auto& rule : np["spec"]["ingress"]) {
        if (!Matches(np["spec"]["podSelector"], PodOf(to)) || !RuleOpensPort(rule, port, callee)) continue;
        for (const auto& peer : rule["from"])
          ingress |= !peer["namespaceSelector"] && Matches(peer["podSelector"], PodOf(from));
      }
    }
    EXPECT_TRUE(egress && ingress) << from << " cannot reach " << to << "'s pods on " << port;
  }
}

// A drain or a zone outage leaves replicas serving: a budget per Deployment
// that lets one pod go at a time, replicas on different nodes (a hard rule)
// and zones (a preference), and an HPA on CPU per Deployment that never goes
// below its replicas.
TEST_P(OverlayTest, OnPostgresEachDeploymentHasABudgetSpreadAndAnHpa) {
  if (!OnPostgres()) GTEST_SKIP() << GetParam() << " runs on SQLite";
  for (const auto& [name, health] : kHealth) {
    YAML::Node w = Workload(name);
    ASSERT_TRUE(w.IsMap()) << "no workload " << name;
    const int replicas = w["spec"]["replicas"].as<int>(0);
    int budgets = 0;
    for (const auto& pdb : OfKind("PodDisruptionBudget")) {
      if (!Matches(pdb["spec"]["selector"], PodOf(name))) continue;
      ++budgets;
      if (pdb["spec"]["maxUnavailable"]) {
        EXPECT_EQ(pdb["spec"]["maxUnavailable"].as<int>(0), 1) << Name(pdb);
      } else {
        int min = pdb["spec"]["minAvailable"].as<int>(0);
        EXPECT_TRUE(min >= 1 && min < replicas) << Name(pdb) << ": minAvailable " << min;
      }
    }
    EXPECT_EQ(budgets, 1) << name << ": one PodDisruptionBudget selecting its pods";

    std::map<std::string, std::string> spread;  // topology key -> whenUnsatisfiable
    for (const auto& c : w["spec"]["template"]["spec"]["topologySpreadConstraints"]) {
      EXPECT_TRUE(Matches(c["labelSelector"], PodOf(name))) << name << ": spreads other pods";
      EXPECT_EQ(c["maxSkew"].as<int>(0), 1) << name;
      spread[c["topologyKey"].as<std::string>("")] = c["whenUnsatisfiable"].as<std::string>("");
    }
    EXPECT_EQ(spread["kubernetes.io/hostname"], "DoNotSchedule") << name;
    EXPECT_EQ(spread["topology.kubernetes.io/zone"], "ScheduleAnyway") << name;

    int hpas = 0;
    for (const auto& hpa : OfKind("HorizontalPodAutoscaler")) {
      const YAML::Node ref = hpa["spec"]["scaleTargetRef"];
      if (ref["name"].as<std::string>("") != name) continue;
      ++hpas;
      EXPECT_EQ(hpa["apiVersion"].as<std::string>(""), "autoscaling/v2") << Name(hpa);
      EXPECT_EQ(ref["kind"].as<std::string>(""), "Deployment") << Name(hpa);
      EXPECT_EQ(ref["apiVersion"].as<std::string>(""), "apps/v1") << Name(hpa);
      EXPECT_EQ(hpa["spec"]["minReplicas"].as<int>(0), replicas) << Name(hpa);
      EXPECT_GT(hpa["spec"]["maxReplicas"].as<int>(0), replicas) << Name(hpa);
      bool cpu = false;
      for (const auto& m : hpa["spec"]["metrics"]) {
        cpu |= m["type"].as<std::string>("") == "Resource" && m["resource"]["name"].as<std::string>("") == "cpu" &&
               m["resource"]["target"]["averageUtilization"].as<int>(0) > 0;
      }
      EXPECT_TRUE(cpu) << Name(hpa) << " does not scale on CPU utilization";
    }
    EXPECT_EQ(hpas, 1) << name << ": one HPA targeting its Deployment";
  }
}

// --- A fresh cluster, gateways, labels, monitoring ---------------------------

// Kinds that live outside any namespace (the rest, the CRDs' kinds
// included, are namespaced).
bool ClusterScoped(const std::string& kind) {
  static const std::set<std::string> kinds = {"Namespace",          "ClusterRole",
                                              "ClusterRoleBinding", "ClusterIssuer",
                                              "StorageClass",       "PersistentVolume",
                                              "PriorityClass",      "CustomResourceDefinition"};
  return kinds.count(kind) > 0;
}

// `kubectl apply -k` on a fresh cluster: every namespaced object names a
// namespace the same output creates (applied first: kubectl orders
// Namespaces before the rest), where Pod Security admission enforces the
// restricted profile the pods are written for.
TEST_P(OverlayTest, EveryNamespacedObjectsNamespaceIsCreatedByTheOverlay) {
  std::map<std::string, YAML::Node> namespaces;
  for (const auto& ns : OfKind("Namespace")) namespaces[Name(ns)] = ns;
  ASSERT_FALSE(namespaces.empty()) << GetParam() << " creates no Namespace";
  std::set<std::string> used;
  for (const auto& o : rendered_.objects) {
    if (ClusterScoped(Kind(o))) {
      EXPECT_FALSE(o["metadata"]["namespace"]) << Kind(o) << "/" << Name(o) << " is cluster-scoped";
      continue;
    }
    const std::string ns = o["metadata"]["namespace"].as<std::string>("");
    EXPECT_FALSE(ns.empty()) << Kind(o) << "/" << Name(o) << " has no namespace";
    EXPECT_TRUE(namespaces.count(ns)) << Kind(o) << "/" << Name(o) << " is in namespace " << ns
                                      << ", which the overlay does not create";
    used.insert(ns);
  }
  for (const auto& [name, ns] : namespaces) {
    EXPECT_TRUE(used.count(name)) << "Namespace " << name << " holds nothing of the overlay";
    EXPECT_EQ(ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"].as<std::string>(""), "restricted") << name;
  }
}

// Whether a NetworkPolicy egress peer is kube-dns in kube-system.
bool IsKubeDns(const YAML::Node& peer) {
  if (!peer["namespaceSelector"] || !peer["podSelector"]) return false;
  return Labels(peer["namespaceSelector"]["matchLabels"])["kubernetes.io/metadata.name"] == "kube-system" &&
         Labels(peer["podSelector"]["matchLabels"])["k8s-app"] == "kube-dns";
}

// The numeric TCP ports of a rule ("port" with protocol TCP, the default).
std::set<int> TcpPorts(const YAML::Node& rule) {
  std::set<int> ports;
  for (const auto& p : rule["ports"]) {
    int n = 0;
    if (p["protocol"].as<std::string>("TCP") == "TCP" && absl::SimpleAtoi(p["port"].as<std::string>(""), &n)) {
      ports.insert(n);
    }
  }
  return ports;
}

// The public internet as a NetworkPolicy says it: 0.0.0.0/0 (or ::/0) minus
// the private, shared and link-local ranges, so the cluster's own pods and
// services (and the cloud metadata address) stay out of it.
bool IsPublicInternet(const YAML::Node& ip_block, std::string* why) {
  const std::string cidr = ip_block["cidr"].as<std::string>("");
  std::set<std::string> excepted;
  for (const auto& e : ip_block["except"]) excepted.insert(e.as<std::string>(""));
  std::vector<std::string> must;
  if (cidr == "0.0.0.0/0") {
    must = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"};
  } else if (cidr == "::/0") {
    must = {"fc00::/7", "fe80::/10"};
  } else {
    return false;
  }
  for (const auto& range : must) {
    if (!excepted.count(range)) absl::StrAppend(why, cidr, " does not except ", range, "; ");
  }
  return true;
}

// Notification reaches its gateways (issue: every webhook and email ended
// DEAD_LETTER behind the deny-all policy): DNS to kube-dns, and the ranges
// and ports the overlay configures. The two halves of that configuration
// agree: every private range the policy opens is on --egress_allowlist
// (CARE_EGRESS_ALLOWLIST), which notification would refuse otherwise, and
// every range on the allow-list is opened; the rest of the internet only
// through a block that excepts the private ranges.
TEST_P(OverlayTest, NotificationReachesDnsAndTheConfiguredGatewaysOnTheAllowList) {
  const LabelMap pod = PodOf("notification");
  const std::map<std::string, std::string> env = Env(Workload("notification"));
  ASSERT_TRUE(env.count("CARE_EGRESS_ALLOWLIST")) << "notification's ConfigMap sets no CARE_EGRESS_ALLOWLIST";
  const std::string allowlist = env.at("CARE_EGRESS_ALLOWLIST");
  ASSERT_TRUE(care::EgressPolicy::Parse(allowlist).ok()) << "notification would not start: " << allowlist;
  std::vector<care::Cidr> allowed;
  for (absl::string_view entry : absl::StrSplit(allowlist, ',', absl::SkipWhitespace())) {
    if (auto cidr = care::Cidr::Parse(absl::StripAsciiWhitespace(entry))) allowed.push_back(*cidr);
  }
  bool dns_udp = false, dns_tcp = false;
  std::vector<care::Cidr> opened;
  for (const auto& np : OfKind("NetworkPolicy")) {
    if (!Matches(np["spec"]["podSelector"], pod)) continue;
    for (const auto& rule : np["spec"]["egress"]) {
      for (const auto& peer : rule["to"]) {
        if (IsKubeDns(peer)) {
          for (const auto& p : rule["ports"]) {
            if (p["port"].as<std::string>("") != "53") continue;
            dns_udp |= p["protocol"].as<std::string>("TCP") == "UDP";
            dns_tcp |= p["protocol"].as<std::string>("TCP") == "TCP";
          }
        }
        if (!peer["ipBlock"]) continue;
        const std::string where = absl::StrCat(Name(np), " ", peer["ipBlock"]["cidr"].as<std::string>(""));
        EXPECT_FALSE(TcpPorts(rule).empty()) << where << ": a gateway rule names its ports";
        std::string why;
        if (IsPublicInternet(peer["ipBlock"], &why)) {
          EXPECT_TRUE(why.empty()) << where << ": " << why;
          continue;
        }
        auto block = care::Cidr::Parse(peer["ipBlock"]["cidr"].as<std::string>(""));
        ASSERT_TRUE(block.has_value()) << where << " is no CIDR";
        opened.push_back(*block);
        bool on_allowlist = false;
        for (const auto& a : allowed) {
          on_allowlist |= a.Contains(block->base) && block->prefix_length >= a.prefix_length;
        }
        EXPECT_TRUE(on_allowlist) << where << " is opened but not on CARE_EGRESS_ALLOWLIST \"" << allowlist
                                  << "\": notification refuses it";
      }
    }
  }
  EXPECT_TRUE(dns_udp && dns_tcp) << "notification cannot resolve its gateways' names (kube-dns, 53 UDP and TCP)";
  EXPECT_FALSE(opened.empty()) << GetParam() << " configures no gateway range for notification";
  for (const auto& a : allowed) {
    bool is_opened = false;
    for (const auto& o : opened) is_opened |= o.Contains(a.base) && a.prefix_length >= o.prefix_length;
    EXPECT_TRUE(is_opened) << a.base.ToString() << "/" << a.prefix_length
                           << " is on CARE_EGRESS_ALLOWLIST but no NetworkPolicy opens it";
  }
  // Only notification leaves the cluster (the databases of the PostgreSQL
  // overlays aside, on 5432).
  for (const auto& np : OfKind("NetworkPolicy")) {
    for (const auto& rule : np["spec"]["egress"]) {
      for (const auto& peer : rule["to"]) {
        if (!peer["ipBlock"] || TcpPorts(rule) == std::set<int>{5432}) continue;
        for (const auto& other : Pods()) {
          EXPECT_TRUE(!Matches(np["spec"]["podSelector"], other) ||
                      other.at("app.kubernetes.io/name") == "notification")
              << Name(np) << " lets " << other.at("app.kubernetes.io/name") << " reach addresses outside the cluster";
        }
      }
    }
  }
}

// The version the manifests deploy: prod's image tag.
std::string ReleaseVersion() {
  YAML::Node prod = YAML::LoadFile(kSource + "/deploy/k8s/overlays/prod/kustomization.yaml");
  return prod["images"][0]["newTag"].as<std::string>("");
}

// The recommended labels on every object and pod template; the workloads'
// selectors stay the one label they always had (a StatefulSet's selector
// cannot change on a live cluster, so labels never reach it).
TEST_P(OverlayTest, EveryObjectCarriesTheRecommendedLabelsAndSelectorsStayAsTheyWere) {
  const std::string version = ReleaseVersion();
  ASSERT_FALSE(version.empty());
  auto check = [&](const LabelMap& labels, const std::string& where) {
    for (const char* key :
         {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
          "app.kubernetes.io/component", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by"}) {
      auto it = labels.find(key);
      EXPECT_TRUE(it != labels.end() && !it->second.empty()) << where << " lacks " << key;
    }
    auto value = [&](const char* key) { return labels.count(key) ? labels.at(key) : std::string(); };
    EXPECT_EQ(value("app.kubernetes.io/part-of"), "caresuite") << where;
    EXPECT_EQ(value("app.kubernetes.io/instance"), "caresuite") << where;
    EXPECT_EQ(value("app.kubernetes.io/managed-by"), "kustomize") << where;
    EXPECT_EQ(value("app.kubernetes.io/version"), version) << where << ": the release is prod's image tag";
  };
  for (const auto& o : rendered_.objects) check(Labels(o["metadata"]["labels"]), Kind(o) + "/" + Name(o));
  for (const auto& w : Workloads()) {
    check(Labels(w["spec"]["template"]["metadata"]["labels"]), Kind(w) + "/" + Name(w) + " pods");
    EXPECT_EQ(Labels(w["spec"]["selector"]["matchLabels"]), (LabelMap{{"app.kubernetes.io/name", Name(w)}}))
        << Kind(w) << "/" << Name(w) << ": the selector changed";
    EXPECT_FALSE(w["spec"]["selector"]["matchExpressions"]) << Name(w);
  }
  for (const auto& [name, health] : kHealth) {
    EXPECT_EQ(Labels(Workload(name)["metadata"]["labels"])["app.kubernetes.io/name"], name);
  }
}

// Production runs the Prometheus Operator: a PodMonitor that scrapes each
// service's metrics port in this namespace, and the suite's alerts.
TEST_P(OverlayTest, ProdHasAPodMonitorForEveryServiceAndTheAlerts) {
  if (GetParam() != "prod" && GetParam() != "prod-postgres") {
    GTEST_SKIP() << GetParam() << " runs without the Prometheus Operator (annotation scraping)";
  }
  auto monitors = OfKind("PodMonitor");
  ASSERT_EQ(monitors.size(), 1u);
  const YAML::Node spec = monitors[0]["spec"];
  EXPECT_FALSE(spec["namespaceSelector"]) << "the PodMonitor's own namespace: the suite's";
  ASSERT_TRUE(spec["podMetricsEndpoints"] && spec["podMetricsEndpoints"].size() == 1);
  const std::string port = spec["podMetricsEndpoints"][0]["port"].as<std::string>("");
  for (const auto& [name, health] : kHealth) {
    EXPECT_TRUE(Matches(spec["selector"], PodOf(name))) << "the PodMonitor misses " << name;
    bool named = false;
    for (const auto& p : Workload(name)["spec"]["template"]["spec"]["containers"][0]["ports"]) {
      named |= p["name"].as<std::string>("") == port && p["containerPort"].as<int>(0) == 9090;
    }
    EXPECT_TRUE(named) << name << " has no port " << port << " (CARE_METRICS_PORT 9090)";
  }
  EXPECT_FALSE(Matches(spec["selector"], PodOf("redis"))) << "redis serves no /metrics";

  auto rules = OfKind("PrometheusRule");
  ASSERT_EQ(rules.size(), 1u);
  std::map<std::string, std::string> alerts;  // name -> expr
  for (const auto& group : rules[0]["spec"]["groups"]) {
    for (const auto& rule : group["rules"]) {
      const std::string alert = rule["alert"].as<std::string>("");
      ASSERT_FALSE(alert.empty()) << "a rule without an alert name in " << group["name"];
      EXPECT_TRUE(alerts.emplace(alert, rule["expr"].as<std::string>("")).second) << "two alerts " << alert;
      EXPECT_FALSE(rule["labels"]["severity"].as<std::string>("").empty()) << alert;
      EXPECT_FALSE(rule["annotations"]["summary"].as<std::string>("").empty()) << alert;
      EXPECT_FALSE(rule["annotations"]["description"].as<std::string>("").empty()) << alert;
    }
  }
  // What the issue asks to be alerted on, each by the metric that shows it.
  const std::vector<std::pair<std::string, std::string>> wanted =
      {{"error rate", "care_rpc_calls_total"},
       {"p99 latency", "histogram_quantile(0.99"},
       {"outbox age", "care_outbox_oldest_pending_age_seconds"},
       {"dead outbox events", "care_outbox_dead"},
       {"job last-success age", "care_job_last_success_timestamp_seconds"},
       {"DLQ growth", "increase(care_notification_deliveries_total{status=\"DEAD_LETTER\"}"},
       {"disk fill", "kubelet_volume_stats_available_bytes"}};
  for (const auto& [what, needle] : wanted) {
    bool found = false;
    for (const auto& [alert, expr] : alerts) found |= absl::StrContains(expr, needle);
    EXPECT_TRUE(found) << "no alert on " << what << " (an expression with " << needle << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(Overlays, OverlayTest, ::testing::Values("dev", "prod", "postgres-dev", "prod-postgres"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');  // gtest names: [A-Za-z0-9_]
                           return name;
                         });

// --- Grafana -----------------------------------------------------------------

// What the four binaries export: the runtime's catalog, the tier cache's and
// each service's own families.
std::set<std::string> ExportedMetricNames() {
  for (auto declare : {&care::DeclareTierCacheMetrics, &care::loyalty::DeclareMetrics,
                       &care::notification::DeclareMetrics, &care::complaint::DeclareMetrics}) {
    care::metrics::AddToCatalog(declare);
  }
  care::metrics::DeclareAll();
  std::vector<std::string> names = care::metrics::Registry::Global().Names();
  return {names.begin(), names.end()};
}

TEST(DashboardTest, PanelsAreValidAndBoundToExportedMetrics) {
  std::ifstream in(kSource + "/deploy/grafana/caresuite.json");
  ASSERT_TRUE(in.good());
  nlohmann::json dashboard = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(dashboard.is_discarded()) << "caresuite.json is not valid JSON";
  EXPECT_TRUE(dashboard["title"].is_string());
  EXPECT_TRUE(dashboard["uid"].is_string());
  EXPECT_TRUE(dashboard["schemaVersion"].is_number_integer());
  ASSERT_TRUE(dashboard["panels"].is_array());

  const std::set<std::string> exported = ExportedMetricNames();
  std::set<int> ids;
  std::set<std::string> used;
  std::regex metric(R"(\b(care|process)_[a-z0-9_]+)");
  const std::set<std::string> label_names = {"care_service", "care_job"};
  // Services are picked by the label every sample carries: target labels
  // (job, service, pod) differ between annotation scraping and the
  // Prometheus Operator.
  const std::string by_service = R"({care_service=~"$service")";
  bool service_variable = false;
  for (const auto& variable : dashboard["templating"]["list"]) {
    service_variable |= variable["name"] == "service" &&
                        variable["definition"] == "label_values(care_build_info, care_service)";
  }
  EXPECT_TRUE(service_variable) << "no $service variable over care_build_info's care_service";
  int bound_panels = 0;
  for (const auto& panel : dashboard["panels"]) {
    ASSERT_TRUE(panel["id"].is_number_integer());
    EXPECT_TRUE(ids.insert(panel["id"].get<int>()).second) << "duplicate panel id " << panel["id"];
    EXPECT_TRUE(panel["gridPos"].is_object()) << panel["title"];
    if (panel["type"] == "row") continue;
    ASSERT_TRUE(panel["targets"].is_array() && !panel["targets"].empty()) << panel["title"];
    ++bound_panels;
    for (const auto& target : panel["targets"]) {
      ASSERT_TRUE(target["expr"].is_string()) << panel["title"];
      EXPECT_TRUE(target["refId"].is_string()) << panel["title"];
      std::string expr = target["expr"];
      int found = 0;
      for (std::sregex_iterator it(expr.begin(), expr.end(), metric), end; it != end; ++it) {
        std::string name = it->str();
        if (label_names.count(name)) continue;
        ++found;
        EXPECT_EQ(expr.compare(it->position() + it->length(), by_service.size(), by_service), 0)
            << "panel \"" << panel["title"].get<std::string>() << "\": " << name << " is not selected by "
            << by_service;
        // Histograms are queried through their series.
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
          if (!exported.count(name) && absl::EndsWith(name, suffix)) name.resize(name.size() - strlen(suffix));
        }
        EXPECT_TRUE(exported.count(name)) << "panel \"" << panel["title"].get<std::string>() << "\" uses " << it->str()
                                          << ", which no service exports";
        used.insert(name);
      }
      EXPECT_GT(found, 0) << "panel " << panel["title"] << " queries no CareSuite metric";
    }
  }
  EXPECT_GE(bound_panels, 8);
  // What the issue asks to see, each on the dashboard.
  for (const char* must :
       {"care_rpc_calls_total", "care_rpc_latency_seconds", "care_tier_cache_lookups_total", "care_outbox_backlog",
        "care_notification_deliveries_total", "care_complaint_sla_breaches_total", "care_rpc_stream_calls_total",
        "care_build_info", "process_cpu_seconds_total", "process_resident_memory_bytes",
        "care_job_last_success_timestamp_seconds"}) {
    EXPECT_TRUE(used.count(must)) << must << " is on no panel";
  }
}

// --- Alerts ------------------------------------------------------------------

// The alert rules query only metrics the services export.
TEST(AlertRulesTest, ExpressionsUseOnlyExportedMetrics) {
  const std::set<std::string> exported = ExportedMetricNames();
  // Label names, not metrics.
  const std::set<std::string> labels = {"care_service", "care_job"};
  YAML::Node rule = YAML::LoadFile(kSource + "/deploy/k8s/monitoring/alerts.yaml");
  std::regex metric(R"(\b(care|process)_[a-z0-9_]+)");
  int exprs = 0;
  for (const auto& group : rule["spec"]["groups"]) {
    for (const auto& r : group["rules"]) {
      const std::string alert = r["alert"].as<std::string>(r["record"].as<std::string>(""));
      const std::string expr = r["expr"].as<std::string>("");
      ++exprs;
      int found = 0;
      for (std::sregex_iterator it(expr.begin(), expr.end(), metric), end; it != end; ++it) {
        std::string name = it->str();
        if (labels.count(name)) continue;
        ++found;
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
          if (!exported.count(name) && absl::EndsWith(name, suffix)) name.resize(name.size() - strlen(suffix));
        }
        // process_* comes from the runtime's process collector.
        EXPECT_TRUE(exported.count(name) || absl::StartsWith(name, "process_"))
            << alert << " uses " << it->str() << ", which no service exports";
      }
      EXPECT_TRUE(found > 0 || absl::StrContains(expr, "kubelet_volume_stats_") || absl::StrContains(expr, "up{"))
          << alert << " queries no CareSuite metric";
    }
  }
  EXPECT_GE(exprs, 7);
}

}  // namespace
