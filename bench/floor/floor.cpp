// ssehub-floor: the least work a server can do for bench/loadgen's unicast load, as a
// yardstick for this machine. Not a product, and written by hand on purpose: no library call
// stands between the load and the kernel, so what it costs per delivery is what any server
// pays here for the same sockets, and what ssehub spends beyond that is its own.
//
//   ssehub-floor PORT THREADS JOURNAL
//
// THREADS threads, each with its own epoll and its own listening socket on PORT (SO_REUSEPORT
// spreads the connections). `GET ...?username=uN` opens user N's stream; `POST
// ...?username=uN` with a Content-Length body appends "data: BODY\n\n" to JOURNAL (one
// pwrite, like ssehub's segment log before an answer: survives kill -9, not a power loss),
// writes it to user N's stream straight from the thread that read the publish, and answers
// 204. It does not do what a server owes its users: no HTTP validation, no event ids, no
// history to resume from, no keep-alives, no ordering between threads, no back-pressure (a
// write that does not fit the stream's socket buffer is cut short, and the load generator
// counts it lost).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr long kMaxUsers = 1'000'000;

std::vector<std::atomic<int>> stream_of_user(kMaxUsers);  // user N's stream socket, or -1

struct Journal {
  int fd = -1;
  std::mutex mutex;
  off_t end = 0;

  void append(const std::string& record) {
    std::lock_guard lock(mutex);
    const ssize_t written = pwrite(fd, record.data(), record.size(), end);
    if (written > 0) end += written;
  }
} journal;

struct Connection {
  int fd;
  std::string unread;
  long stream_user = -1;  // the user whose stream this is, if it is one
};

long user_of(std::string_view target) {
  std::size_t at = target.find("username=u");
  if (at == std::string_view::npos) return -1;
  long user = 0;
  for (at += 10; at < target.size() && target[at] >= '0' && target[at] <= '9'; ++at)
    user = user * 10 + (target[at] - '0');
  return user < kMaxUsers ? user : -1;
}

std::size_t content_length(std::string_view head) {
  constexpr std::string_view kName = "\ncontent-length:";
  for (std::size_t at = head.find('\n'); at != std::string_view::npos; at = head.find('\n', at + 1))
    if (head.size() - at > kName.size() &&
        strncasecmp(head.data() + at, kName.data(), kName.size()) == 0)
      return std::strtoul(head.data() + at + kName.size(), nullptr, 10);
  return 0;
}

// One send: a short write is not retried (the load generator counts what it cuts as lost).
void send_or_drop(int fd, std::string_view bytes) {
  (void)!send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

// Handles every whole request in `connection.unread`.
void handle_requests(Connection& connection) {
  for (;;) {
    const std::size_t head_end = connection.unread.find("\r\n\r\n");
    if (head_end == std::string::npos) return;
    const std::string_view head(connection.unread.data(), head_end + 4);
    const std::size_t body_size = content_length(head);
    if (connection.unread.size() < head.size() + body_size) return;
    const std::size_t target_start = head.find(' ') + 1;
    const std::size_t target_end = head.find(' ', target_start);
    const long user = user_of(head.substr(target_start, target_end - target_start));
    if (head.starts_with("GET ")) {
      send_or_drop(connection.fd,
                       "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                       "Cache-Control: no-cache\r\n\r\n");
      if (user >= 0) {
        stream_of_user[user].store(connection.fd);
        connection.stream_user = user;
      }
    } else {
      std::string event = "data: ";
      event.append(connection.unread, head.size(), body_size);
      event += "\n\n";
      journal.append(event);
      if (user >= 0)
        if (const int stream = stream_of_user[user].load(); stream >= 0)
          send_or_drop(stream, event);
      send_or_drop(connection.fd, "HTTP/1.1 204 No Content\r\n\r\n");
    }
    connection.unread.erase(0, head.size() + body_size);
  }
}

void close_connection(Connection* connection) {
  if (connection->stream_user >= 0) {
    int fd = connection->fd;
    stream_of_user[connection->stream_user].compare_exchange_strong(fd, -1);
  }
  close(connection->fd);
  delete connection;
}

void serve(int port) {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  const int on = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  setsockopt(listener, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      listen(listener, 4096) != 0) {
    std::perror("ssehub-floor: listen");
    std::exit(1);
  }
  const int poller = epoll_create1(0);
  epoll_event listening{.events = EPOLLIN, .data = {.ptr = nullptr}};
  epoll_ctl(poller, EPOLL_CTL_ADD, listener, &listening);
  std::vector<epoll_event> ready(256);
  std::vector<char> buffer(65536);
  for (;;) {
    const int count = epoll_wait(poller, ready.data(), static_cast<int>(ready.size()), -1);
    for (int i = 0; i < count; ++i) {
      auto* connection = static_cast<Connection*>(ready[i].data.ptr);
      if (connection == nullptr) {
        for (int fd; (fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
          epoll_event readable{.events = EPOLLIN, .data = {.ptr = new Connection{fd, {}, -1}}};
          epoll_ctl(poller, EPOLL_CTL_ADD, fd, &readable);
        }
        continue;
      }
      const ssize_t got = recv(connection->fd, buffer.data(), buffer.size(), 0);
      if (got > 0) {
        connection->unread.append(buffer.data(), static_cast<std::size_t>(got));
        handle_requests(*connection);
      } else if (got == 0 || errno != EAGAIN) {
        close_connection(connection);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: ssehub-floor PORT THREADS JOURNAL\n");
    return 2;
  }
  journal.fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (journal.fd < 0) {
    std::perror("ssehub-floor: journal");
    return 1;
  }
  for (auto& stream : stream_of_user) stream.store(-1);
  std::vector<std::thread> threads;
  for (int i = 0; i < std::atoi(argv[2]); ++i) threads.emplace_back(serve, std::atoi(argv[1]));
  for (auto& thread : threads) thread.join();
}
