#include "peers.hpp"

#include "certificates.hpp"
#include "process.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace smart::testing {

namespace {

namespace fs = std::filesystem;

// The daemons bind ports themselves: a port the kernel just gave out and
// that is free again. Another process may take it meanwhile; the start is
// then tried again on a new one.
std::uint16_t spare_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    throw std::runtime_error{"no spare port"};
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string tool(const std::string& name) {
  for (const char* dir : {"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"}) {
    const auto path = std::string{dir} + "/" + name;
    if (::access(path.c_str(), X_OK) == 0) {
      return path;
    }
  }
  throw std::runtime_error{name + " is not installed (scripts/install-deps.sh --tools)"};
}

// Runs a command that daemonizes: true if it exited 0 (listening by then).
bool run(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) {
    argv.push_back(const_cast<char*>(a.c_str()));
  }
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string temp_dir(const char* what) {
  std::string pattern = (fs::temp_directory_path() / (std::string{what} + ".XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error{"mkdtemp failed"};
  }
  return pattern;
}

void write(const fs::path& path, const std::string& text) {
  std::ofstream{path} << text;
}

void stop(int pid) {
  if (pid > 0) {
    ::kill(pid, SIGKILL);
  }
}

// Whether 127.0.0.1:port is in the LISTEN state, from the kernel's table
// (a probe by connecting would be a connection the server counts).
bool listening(std::uint16_t port) {
  std::ifstream in{"/proc/net/tcp"};
  std::string line;
  std::getline(in, line);  // the heading
  std::array<char, 32> wanted{};
  std::snprintf(wanted.data(), wanted.size(), "0100007F:%04X", port);
  while (std::getline(in, line)) {
    std::istringstream fields{line};
    std::string slot;
    std::string local;
    std::string remote;
    std::string state;
    fields >> slot >> local >> remote >> state;
    if (local == wanted.data() && state == "0A") {
      return true;
    }
  }
  return false;
}

// Waits for a server started in the foreground to listen on `port`; false
// if it exited first (the port was taken) or did not listen within 10 s.
bool wait_until_listening(child_process& p, std::uint16_t port) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (std::chrono::steady_clock::now() < until) {
    if (listening(port)) {
      return true;
    }
    if (p.wait(std::chrono::milliseconds{1}) >= 0) {
      return false;
    }
  }
  return false;
}

}  // namespace

nginx_server::nginx_server(const nginx_options& o)
    : dir_{temp_dir("nginx")}, tls_{o.tls != nullptr} {
  if (tls_) {
    write(fs::path{dir_} / "cert.pem", o.tls->certificate_pem);
    write(fs::path{dir_} / "key.pem", o.tls->private_key_pem);
  }
  const auto nginx = tool("nginx");
  for (int tries = 0; tries < 5; ++tries) {
    port_ = spare_port();
    std::ostringstream conf;
    // One process, as a daemon: the command returns once the port listens.
    conf << "daemon on;\nmaster_process off;\npid " << dir_ << "/nginx.pid;\n"
         << "error_log " << dir_ << "/error.log warn;\n"
         << "events { worker_connections 1024; }\n"
         << "http {\n  access_log off;\n";
    for (const char* t : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"}) {
      conf << "  " << t << "_temp_path " << dir_ << "/" << t << ";\n";
    }
    conf << "  upstream work { server 127.0.0.1:" << o.proxy_to << "; keepalive 32; }\n"
         << "  server {\n    listen 127.0.0.1:" << port_ << (tls_ ? " ssl" : "") << " http2;\n";
    if (tls_) {
      conf << "    ssl_certificate " << dir_ << "/cert.pem;\n"
           << "    ssl_certificate_key " << dir_ << "/key.pem;\n";
    }
    conf << "    http2_max_concurrent_streams " << o.max_concurrent_streams << ";\n"
         << "    keepalive_requests " << o.requests_per_connection << ";\n"
         << "    location / {\n      proxy_pass http://work;\n"
         << "      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n"
         << "    }\n  }\n}\n";
    write(fs::path{dir_} / "nginx.conf", conf.str());
    if (run({nginx, "-p", dir_, "-c", dir_ + "/nginx.conf"})) {
      std::ifstream{fs::path{dir_} / "nginx.pid"} >> pid_;
      return;
    }
  }
  throw std::runtime_error{"nginx did not start; see " + dir_ + "/error.log"};
}

nginx_server::~nginx_server() {
  stop(pid_);
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string nginx_server::url() const {
  return std::string{tls_ ? "https" : "http"} + "://127.0.0.1:" + std::to_string(port_) +
         "/api/work";
}

void nginx_server::kill() {
  stop(pid_);
  pid_ = -1;
}

nghttpd_server::nghttpd_server(const nghttpd_options& o)
    : dir_{temp_dir("nghttpd")}, tls_{o.tls != nullptr} {
  fs::create_directories(fs::path{dir_} / "www/api");
  write(fs::path{dir_} / "www/api/work", o.body);
  if (tls_) {
    write(fs::path{dir_} / "cert.pem", o.tls->certificate_pem);
    write(fs::path{dir_} / "key.pem", o.tls->private_key_pem);
  }
  const auto nghttpd = tool("nghttpd");
  for (int tries = 0; tries < 5; ++tries) {
    port_ = spare_port();
    // In the foreground: its -D daemonizes before it binds the port.
    std::vector<std::string> args{
        "-a", "127.0.0.1", "-d", dir_ + "/www", "-m", std::to_string(o.max_concurrent_streams)};
    if (!tls_) {
      args.emplace_back("--no-tls");
    }
    if (o.verbose) {
      args.emplace_back("-v");
    }
    args.push_back(std::to_string(port_));
    if (tls_) {
      args.push_back(dir_ + "/key.pem");
      args.push_back(dir_ + "/cert.pem");
    }
    process_ = std::make_unique<child_process>(nghttpd, args);
    if (wait_until_listening(*process_, port_)) {
      return;
    }
    process_.reset();
  }
  throw std::runtime_error{"nghttpd did not start"};
}

nghttpd_server::~nghttpd_server() {
  process_.reset();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

bool nghttpd_server::printed(const std::string& needle, std::chrono::milliseconds timeout) {
  return !process_->wait_for_line(needle, timeout).empty();
}

std::string nghttpd_server::url() const {
  return std::string{tls_ ? "https" : "http"} + "://127.0.0.1:" + std::to_string(port_) +
         "/api/work";
}

}  // namespace smart::testing
