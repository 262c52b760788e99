// NetlinkSocket without root: the receive queue (SO_MEMINFO) that --metrics and the stats
// report, read while a dump's answer is queued and once it is all read.
#include <gtest/gtest.h>

#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <vector>

#include "netlink/netlink_socket.h"

namespace hookdump {
namespace {

// A link dump (RTM_GETLINK): the kernel queues its first part at once, the next ones as
// each is read; every namespace has lo, so there is one.
void request_link_dump(NetlinkSocket& s) {
    nlmsghdr* nlh =
        s.start_raw(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, sizeof(ifinfomsg), nullptr);
    ASSERT_EQ(::send(s.fd(), nlh, nlh->nlmsg_len, 0), static_cast<ssize_t>(nlh->nlmsg_len));
}

// Reads every part of the dump up to NLMSG_DONE; false on a timeout or an error.
bool read_whole_dump(NetlinkSocket& s) {
    std::vector<char> buf(1 << 16);
    for (int parts = 0; parts < 1000; ++parts) {
        const ssize_t n = s.receive(buf, 2000);
        if (n <= 0) return false;
        int left = static_cast<int>(n);
        for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, left);
             nlh = mnl_nlmsg_next(nlh, &left)) {
            if (nlh->nlmsg_type == NLMSG_ERROR) return false;
            if (nlh->nlmsg_type == NLMSG_DONE) return true;
        }
    }
    return false;
}

TEST(NetlinkSocket, ReceiveQueueIsWhatIsQueuedOfTheReceiveBuffer) {
    NetlinkSocket s(NETLINK_ROUTE);
    // A buffer unlike the send buffer's default (both are 212992 on a stock kernel): the size
    // read must be the receive buffer's slot (SK_MEMINFO_RCVBUF), not SK_MEMINFO_SNDBUF.
    s.set_receive_buffer(100'000);
    int rcvbuf = 0, sndbuf = 0;
    socklen_t len = sizeof rcvbuf;
    ASSERT_EQ(getsockopt(s.fd(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len), 0);
    len = sizeof sndbuf;
    ASSERT_EQ(getsockopt(s.fd(), SOL_SOCKET, SO_SNDBUF, &sndbuf, &len), 0);
    ASSERT_EQ(rcvbuf, 200'000);  // the kernel doubles what it is asked for (its overhead)
    ASSERT_NE(sndbuf, rcvbuf);

    auto q = s.receive_queue();
    ASSERT_TRUE(q);
    EXPECT_EQ(q->used, 0u);
    EXPECT_EQ(q->size, static_cast<uint64_t>(rcvbuf));

    request_link_dump(s);
    pollfd p{s.fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 2000), 1);
    // The first datagram's length, not read: what is queued is charged at least that (its
    // buffer's true size), and is no buffer size.
    std::vector<char> peek(1 << 16);
    const ssize_t first = ::recv(s.fd(), peek.data(), peek.size(), MSG_PEEK | MSG_TRUNC);
    ASSERT_GT(first, 0);
    q = s.receive_queue();
    ASSERT_TRUE(q);
    EXPECT_GE(q->used, static_cast<uint64_t>(first));
    EXPECT_LT(q->used, static_cast<uint64_t>(rcvbuf));
    EXPECT_EQ(q->size, static_cast<uint64_t>(rcvbuf));

    ASSERT_TRUE(read_whole_dump(s));
    q = s.receive_queue();
    ASSERT_TRUE(q);
    EXPECT_EQ(q->used, 0u);
    EXPECT_EQ(q->size, static_cast<uint64_t>(rcvbuf));
}

}  // namespace
}  // namespace hookdump
