#pragma once
// A throw-away certificate authority for TLS tests, made at run time with
// OpenSSL (nothing secret is committed, nothing expires in the repository).

#include <string>

namespace smart::testing {

struct tls_identity {
  std::string certificate_pem;  // the server certificate (for 127.0.0.1 and localhost)
  std::string private_key_pem;
};

struct test_ca {
  std::string ca_pem;   // the CA certificate clients must trust
  std::string ca_file;  // ... written to a temporary file
  tls_identity server;  // a server identity signed by this CA
};

// A new CA and a server identity it signed for `subject_alt_names` (OpenSSL
// syntax). Files are removed at exit.
test_ca make_test_ca(const std::string& name,
                     const std::string& subject_alt_names = "DNS:localhost,IP:127.0.0.1");

}  // namespace smart::testing
