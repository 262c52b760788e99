// One class per subcommand: it declares its options on the CLI11 app and runs.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "cli/output_options.h"
#include "metrics/metrics_server.h"
#include "rules/rule.h"
#include "sink/output_file.h"

namespace hookdump {

class ReadCommand {
  public:
    void add_to(CLI::App& app);
    bool selected() const { return sub_ && sub_->parsed(); }
    int run();

  private:
    CLI::App* sub_ = nullptr;
    std::string path_;
    std::vector<std::string> expression_;
    OutputOptions out_;
};

// hookdump -d / -dd / -ddd: the compiled program, printed as tcpdump prints it.
int dump_bpf(const std::string& expression, const std::string& linktype, int level);
// hookdump --ebpf tc|xdp: the expression translated to eBPF (src/bpf/cbpf_translate.h).
int dump_ebpf(const std::string& expression, const std::string& hook);

}  // namespace hookdump

namespace hookdump {

// hookdump generate: synthetic traffic from the packet builder, through the usual outputs.
class GenerateCommand {
  public:
    void add_to(CLI::App& app);
    bool selected() const { return sub_ && sub_->parsed(); }
    int run();

  private:
    CLI::App* sub_ = nullptr;
    uint64_t packets_ = 1000;
    uint32_t flows_ = 16;
    uint32_t payload_ = 64;
    uint32_t seed_ = 1;
    OutputOptions out_;
};

}  // namespace hookdump

namespace hookdump {

// The rule options of `capture` and `rules add` on the command line.
struct KmodRuleOptions : RuleOptions {
    void add_to(CLI::App& app, bool with_snaplen);
    // The rules for `expression` (joined words) with these options as the common base.
    std::vector<Rule> rules(const std::string& expression) const;
};

// hookdump rules add|del|list|flush, hookdump kmod stats|listen.
class KmodCommands {
  public:
    void add_to(CLI::App& app);
    bool selected() const;
    int run();

  private:
    CLI::App* rules_ = nullptr;
    CLI::App* add_ = nullptr;
    CLI::App* del_ = nullptr;
    CLI::App* list_ = nullptr;
    CLI::App* flush_ = nullptr;
    CLI::App* kmod_ = nullptr;
    CLI::App* stats_ = nullptr;
    CLI::App* listen_ = nullptr;
    KmodRuleOptions rule_;
    std::vector<std::string> add_expression_;
    std::vector<uint32_t> del_ids_;
    OutputOptions listen_out_;
};

namespace bpf {
class ProcPrograms;
}
class Cgroup2;

// hookdump capture: live capture with a chosen engine (auto, afpacket, kmod, nflog, tc, xdp, drop).
class CaptureCommand {
  public:
    void add_to(CLI::App& app);
    bool selected() const { return sub_ && sub_->parsed(); }
    int run();

  private:
    int run_engine(class Engine& engine, Pipeline& pipeline);
    void report(const class Engine& engine, uint64_t captured,
                const std::vector<OutputLedger>& outputs) const;
    struct EngineOptions engine_options() const;
    void check_proc_options();
    struct AutoRequest auto_request(const struct EngineOptions& o) const;
    std::string direction_ = "both";
    std::string xdp_mode_ = "auto";
    uint16_t nflog_group_ = 0;
    CLI::Option* group_opt_ = nullptr;
    bool drop_all_reasons_ = false;
    bool drop_all_netns_ = false;
    // --proc and its filters; the cgroup programs while the capture runs (a shared_ptr: the
    // type is complete only where it is made).
    bool proc_ = false;
    uint32_t proc_pid_ = 0;
    std::string proc_comm_;
    std::string proc_cgroup_;
    uint64_t proc_cgroup_id_ = 0;
    // The cgroup v2 root, opened once a run (under `ip netns exec` a mount of our own): --cgroup
    // finds its id there, the programs attach there, the paths are its (kmod: paths only).
    std::shared_ptr<Cgroup2> proc_cgroup2_;
    std::shared_ptr<bpf::ProcPrograms> proc_programs_;

    CLI::App* sub_ = nullptr;
    std::string engine_ = "auto";
    std::string interface_ = "any";
    bool no_promisc_ = false;
    uint32_t snaplen_ = 262144;
    unsigned workers_ = 1;
    bool per_worker_files_ = false;
    uint32_t block_kib_ = 1024;
    uint32_t blocks_ = 8;
    uint32_t block_timeout_ms_ = 50;
    std::string user_;
    bool quiet_ = false;
    bool stats_ = false;
    std::string stats_json_;
    std::unique_ptr<OutputFile> stats_out_;  // --stats-json, created before the engine
    std::string metrics_;
    std::unique_ptr<MetricsServer> metrics_server_;  // --metrics, listening before the engine
    std::string ready_status_;  // the readiness line, systemd's STATUS= with READY=1
    std::vector<std::string> expression_;
    OutputOptions out_;
    KmodRuleOptions kmod_;
};

}  // namespace hookdump

namespace hookdump {

// hookdump trace: every observation point at once, correlated into each packet's path.
class TraceCommand {
  public:
    void add_to(CLI::App& app);
    bool selected() const { return sub_ && sub_->parsed(); }
    int run();

  private:
    CLI::App* sub_ = nullptr;
    std::string interface_ = "any";
    uint64_t count_ = 0;
    std::string format_ = "text";
    std::string write_path_;
    std::string report_path_;
    uint32_t window_ms_ = 200;
    std::string points_ = "all";
    std::string record_path_;
    std::string read_path_;
    std::vector<std::string> expression_;
};

}  // namespace hookdump
