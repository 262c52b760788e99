#include "metrics/metrics_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <charconv>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include "util/clock.h"
#include "util/error.h"
#include "util/fd.h"
#include "version.h"

namespace hookdump {
namespace {

// The process's start as the metrics report it: taken when the binary's statics are
// initialised, before main().
const uint64_t kStartRealtimeNs = realtime_ns();
const uint64_t kStartMonotonicNs = clock_ns(CLOCK_MONOTONIC);

UsageError bad_address(std::string_view spec, std::string_view why) {
    return UsageError(fmt::format(
        "--metrics '{}': {} (ADDR:PORT, e.g. 127.0.0.1:9751 or [::1]:9751)", spec, why));
}

// SO_REUSEADDR (a restart binds again while the last run's connections are in TIME_WAIT), not
// httplib's default SO_REUSEPORT, which would let a second hookdump share the port.
void listen_socket_options(int fd) {
    const int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
}

// Binds a socket as httplib will, to say in one line why the address cannot be had.
void check_bindable(const ListenAddress& at) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (at.host.find(':') == std::string::npos) {
        auto* in = reinterpret_cast<sockaddr_in*>(&ss);
        in->sin_family = AF_INET;
        in->sin_port = htons(at.port);
        ::inet_pton(AF_INET, at.host.c_str(), &in->sin_addr);
        len = sizeof *in;
    } else {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(at.port);
        ::inet_pton(AF_INET6, at.host.c_str(), &in6->sin6_addr);
        len = sizeof *in6;
    }
    Fd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw RuntimeError(errno_message("--metrics: socket", errno));
    listen_socket_options(fd.get());
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&ss), len) != 0)
        throw UsageError(
            fmt::format("--metrics {}: cannot listen: {}", at.text(), std::strerror(errno)));
}

}  // namespace

std::string ListenAddress::text() const {
    return host.find(':') == std::string::npos ? fmt::format("{}:{}", host, port)
                                               : fmt::format("[{}]:{}", host, port);
}

ListenAddress parse_listen_address(std::string_view spec) {
    ListenAddress at;
    std::string_view port;
    if (!spec.empty() && spec.front() == '[') {
        const size_t close = spec.find(']');
        if (close == std::string_view::npos) throw bad_address(spec, "no closing ']'");
        at.host = std::string(spec.substr(1, close - 1));
        if (spec.substr(close + 1, 1) != ":") throw bad_address(spec, "no port");
        port = spec.substr(close + 2);
        in6_addr a6{};
        if (::inet_pton(AF_INET6, at.host.c_str(), &a6) != 1)
            throw bad_address(spec, "not an IPv6 address in the brackets");
    } else {
        const size_t colon = spec.rfind(':');
        if (colon == std::string_view::npos) throw bad_address(spec, "no port");
        at.host = std::string(spec.substr(0, colon));
        port = spec.substr(colon + 1);
        in_addr a4{};
        if (at.host.find(':') != std::string::npos)
            throw bad_address(spec, "an IPv6 address goes in brackets");
        if (::inet_pton(AF_INET, at.host.c_str(), &a4) != 1)
            throw bad_address(spec, "not an IPv4 address");
    }
    unsigned p = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || p < 1 || p > 65535)
        throw bad_address(spec, "the port is not 1-65535");
    at.port = static_cast<uint16_t>(p);
    return at;
}

struct MetricsServer::Impl {
    httplib::Server server;
    std::thread thread;
    std::mutex mu;
    MetricsSnapshot snapshot;
};

MetricsServer::MetricsServer(const ListenAddress& at) : impl_(std::make_unique<Impl>()) {
    check_bindable(at);
    httplib::Server& s = impl_->server;
    s.set_socket_options(listen_socket_options);
    // Two connections at a time (a Prometheus keeping its connection alive, and a curl) are
    // plenty; httplib's default pool is 8 threads or more.
    s.new_task_queue = [] { return new httplib::ThreadPool(2); };
    s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        MetricsClock clock;
        clock.start_time_seconds = static_cast<double>(kStartRealtimeNs) / 1e9;
        clock.uptime_seconds =
            static_cast<double>(clock_ns(CLOCK_MONOTONIC) - kStartMonotonicNs) / 1e9;
        std::string text;
        {
            std::lock_guard lock(impl_->mu);
            text = render_metrics(impl_->snapshot, clock, HOOKDUMP_VERSION);
        }
        res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
    });
    if (!s.bind_to_port(at.host, at.port))
        throw UsageError(fmt::format("--metrics {}: cannot listen", at.text()));
    // Signals go to the capture's thread (its poll wakes up on them): the server's thread and
    // the pool's, which it starts, have them blocked.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    // stop() before the loop runs would be lost: wait for it (microseconds).
    for (int i = 0; i < 2000 && !s.is_running(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

MetricsServer::~MetricsServer() {
    impl_->server.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
}

void MetricsServer::publish(MetricsSnapshot s) {
    std::lock_guard lock(impl_->mu);
    impl_->snapshot = std::move(s);
}

}  // namespace hookdump
