#include "ipfix/ipfix_transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "util/clock.h"
#include "util/error.h"

namespace hookdump::ipfix {

namespace {

[[noreturn]] void bad(std::string_view spec, std::string_view why) {
    throw UsageError("--ipfix: '" + std::string(spec) + "' " + std::string(why) +
                     " (HOST:PORT, [IPv6]:PORT, or HOST for port 4739)");
}

uint16_t parse_port(std::string_view spec, std::string_view p) {
    unsigned v = 0;
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (p.empty() || ec != std::errc{} || end != p.data() + p.size() || v < 1 || v > 65535)
        bad(spec, "has no port 1 to 65535");
    return static_cast<uint16_t>(v);
}

uint64_t monotonic_ns() {
    return clock_ns(CLOCK_MONOTONIC);
}

class UdpTransport final : public Transport {
  public:
    UdpTransport(const Address& to, const TransportOptions& o) : options_(o) {
        fd_.reset(::socket(to.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
        if (!fd_) throw RuntimeError(errno_message("IPFIX: UDP socket", errno));
        // Connected: the kernel reports an ICMP port unreachable as ECONNREFUSED on a later
        // send, which is counted.
        if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&to.addr), to.len) != 0)
            throw RuntimeError(errno_message("IPFIX: connecting the UDP socket", errno));
    }
    bool ready(uint64_t) override { return true; }
    uint64_t session() const override { return 1; }
    int send(std::span<const uint8_t> m) override {
        const int flags = options_.wait_for_buffer ? 0 : MSG_DONTWAIT;
        for (;;) {
            const ssize_t n = ::send(fd_.get(), m.data(), m.size(), flags);
            if (n == static_cast<ssize_t>(m.size())) return 0;
            if (n >= 0) return EMSGSIZE;  // a datagram goes whole or not at all
            if (errno == EINTR) continue;
            return errno;
        }
    }
    bool datagram() const override { return true; }
    std::string not_ready_reason() const override { return {}; }
    int take_error(int wait_ms) override {
        pollfd p{fd_.get(), 0, 0};  // POLLERR is reported whatever is asked
        if (wait_ms > 0) ::poll(&p, 1, wait_ms);
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) return 0;
        return err;
    }

  private:
    TransportOptions options_;
    Fd fd_;
};

class TcpTransport final : public Transport {
  public:
    TcpTransport(const Address& to, const TransportOptions& o) : to_(to), options_(o) {
        backoff_ns_ = options_.backoff_min_ns;
    }
    bool ready(uint64_t now) override {
        if (connected_ && peer_closed()) drop(ECONNRESET, now);
        if (connected_) return true;
        if (!fd_) {
            if (now < next_attempt_ns_) return false;
            start_connect(now);
            if (connected_ || !fd_) return connected_;
        }
        // A connection in progress: loopback and a near collector answer within this wait,
        // a far one is looked at again on the next call.
        pollfd p{fd_.get(), POLLOUT, 0};
        const int timeout_ms = first_wait_ ? 100 : 0;
        first_wait_ = false;
        if (::poll(&p, 1, timeout_ms) <= 0) {
            if (now - connect_started_ns_ > 10'000'000'000) drop(ETIMEDOUT, now);
            return false;
        }
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            drop(err, now);
            return false;
        }
        established();
        return true;
    }
    uint64_t session() const override { return session_; }
    int send(std::span<const uint8_t> m) override {
        if (!connected_) return ENOTCONN;
        size_t done = 0;
        const uint64_t deadline = monotonic_ns() + 1'000'000'000;
        while (done < m.size()) {
            const ssize_t n =
                ::send(fd_.get(), m.data() + done, m.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                done += static_cast<size_t>(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) {
                const uint64_t now = monotonic_ns();
                if (now < deadline) {
                    pollfd p{fd_.get(), POLLOUT, 0};
                    ::poll(&p, 1, static_cast<int>((deadline - now) / 1'000'000) + 1);
                    continue;
                }
                // Nothing of it written: the connection is still whole, the message is lost.
                if (done == 0) return EAGAIN;
                // Part of a message on the stream: the collector would read the next as its
                // rest. Only a new connection puts the stream right.
                drop(ETIMEDOUT, now);
                return ETIMEDOUT;
            }
            const int err = n < 0 ? errno : EPIPE;
            drop(err, monotonic_ns());
            return err;
        }
        return 0;
    }
    bool datagram() const override { return false; }
    std::string not_ready_reason() const override {
        return "not connected" +
               (last_error_ ? ": " + std::string(std::strerror(last_error_)) : std::string());
    }

  private:
    void start_connect(uint64_t now) {
        fd_.reset(::socket(to_.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (!fd_) {
            drop(errno, now);
            return;
        }
        connect_started_ns_ = now;
        first_wait_ = true;
        if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&to_.addr), to_.len) == 0) {
            established();
            return;
        }
        if (errno != EINPROGRESS) drop(errno, now);
    }
    void established() {
        connected_ = true;
        ++session_;
        last_error_ = 0;
        backoff_ns_ = options_.backoff_min_ns;
    }
    // A collector sends nothing on an IPFIX connection: anything readable is its end (FIN,
    // RST), found before a message is written into a connection that is gone.
    bool peer_closed() const {
        pollfd p{fd_.get(), POLLIN | POLLRDHUP, 0};
        return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLRDHUP | POLLERR | POLLHUP));
    }
    void drop(int err, uint64_t now) {
        fd_.reset();
        connected_ = false;
        last_error_ = err;
        next_attempt_ns_ = now + backoff_ns_;
        backoff_ns_ = std::min(backoff_ns_ * 2, options_.backoff_max_ns);
    }

    Address to_;
    TransportOptions options_;
    Fd fd_;
    bool connected_ = false;
    bool first_wait_ = false;
    uint64_t session_ = 0;
    int last_error_ = 0;
    uint64_t next_attempt_ns_ = 0;
    uint64_t backoff_ns_ = 0;
    uint64_t connect_started_ns_ = 0;
};

}  // namespace

std::string Collector::text() const {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Collector parse_collector(std::string_view spec) {
    Collector c;
    if (spec.empty()) bad(spec, "is empty");
    if (spec.front() == '[') {
        const size_t close = spec.find(']');
        if (close == std::string_view::npos) bad(spec, "has no closing ']'");
        c.host = std::string(spec.substr(1, close - 1));
        in6_addr a{};
        if (inet_pton(AF_INET6, c.host.c_str(), &a) != 1) bad(spec, "has no IPv6 address in []");
        const std::string_view rest = spec.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') bad(spec, "has something other than :PORT after ']'");
            c.port = parse_port(spec, rest.substr(1));
        }
        return c;
    }
    const size_t colon = spec.find(':');
    if (colon != std::string_view::npos && spec.find(':', colon + 1) != std::string_view::npos) {
        // Two colons: an IPv6 address alone (its port needs the brackets).
        c.host = std::string(spec);
        in6_addr a{};
        if (inet_pton(AF_INET6, c.host.c_str(), &a) != 1)
            bad(spec, "is not an IPv6 address (with a port: [ADDRESS]:PORT)");
        return c;
    }
    c.host = std::string(spec.substr(0, colon));
    if (c.host.empty()) bad(spec, "has no host");
    const bool name_chars = std::all_of(c.host.begin(), c.host.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.' || ch == '_';
    });
    if (!name_chars) bad(spec, "has no host name or address before the port");
    if (colon != std::string_view::npos) c.port = parse_port(spec, spec.substr(colon + 1));
    return c;
}

Address resolve_collector(const Collector& c) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(c.port);
    const int rc = getaddrinfo(c.host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0 || !res)
        throw UsageError("--ipfix: cannot resolve '" + c.host +
                         "': " + (rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc)));
    Address a;
    std::memcpy(&a.addr, res->ai_addr, res->ai_addrlen);
    a.len = res->ai_addrlen;
    freeaddrinfo(res);
    return a;
}

std::unique_ptr<Transport> make_transport(TransportKind kind, const Address& to,
                                          const TransportOptions& options) {
    if (kind == TransportKind::Tcp) return std::make_unique<TcpTransport>(to, options);
    return std::make_unique<UdpTransport>(to, options);
}

size_t max_message_for_mtu(size_t mtu, int family) {
    const size_t headers = (family == AF_INET6 ? 40 : 20) + 8;
    return mtu > headers ? std::min<size_t>(mtu - headers, 65535) : 0;
}

}  // namespace hookdump::ipfix
