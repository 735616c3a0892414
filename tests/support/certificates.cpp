#include "certificates.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <unistd.h>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <vector>

namespace smart::testing {

namespace {

template <typename T, void (*Free)(T*)>
struct deleter {
  void operator()(T* p) const { Free(p); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY, EVP_PKEY_free>>;
using cert_ptr = std::unique_ptr<X509, deleter<X509, X509_free>>;
using bio_ptr = std::unique_ptr<BIO, deleter<BIO, BIO_free_all>>;

void check(bool ok, const char* what) {
  if (!ok) {
    throw std::runtime_error{std::string{"OpenSSL: "} + what};
  }
}

key_ptr new_key() {
  key_ptr key{EVP_EC_gen("P-256")};
  check(key != nullptr, "EVP_EC_gen");
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

cert_ptr new_certificate(const std::string& common_name, EVP_PKEY* key, X509* issuer,
                         EVP_PKEY* issuer_key, bool is_ca, const std::string& alt_names = {}) {
  static std::atomic<long> serial{1};
  cert_ptr cert{X509_new()};
  check(cert != nullptr, "X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24L * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  if (is_ca) {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), signer, NID_subject_alt_name, alt_names.c_str());
    add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
  }
  check(X509_sign(cert.get(), issuer_key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

std::string pem(X509* cert) {
  bio_ptr bio{BIO_new(BIO_s_mem())};
  check(PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return {data, static_cast<std::size_t>(n)};
}

std::string pem(EVP_PKEY* key) {
  bio_ptr bio{BIO_new(BIO_s_mem())};
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return {data, static_cast<std::size_t>(n)};
}

}  // namespace

test_ca make_test_ca(const std::string& name, const std::string& subject_alt_names) {
  const auto ca_key = new_key();
  const auto ca = new_certificate(name + " test CA", ca_key.get(), nullptr, ca_key.get(), true);
  const auto server_key = new_key();
  const auto server = new_certificate("localhost", server_key.get(), ca.get(), ca_key.get(), false,
                                      subject_alt_names);

  test_ca out;
  out.ca_pem = pem(ca.get());
  out.server.certificate_pem = pem(server.get());
  out.server.private_key_pem = pem(server_key.get());

  char path[] = "/tmp/smart-test-ca-XXXXXX";
  const int fd = mkstemp(path);
  check(fd >= 0, "mkstemp");
  close(fd);
  std::ofstream{path} << out.ca_pem;
  out.ca_file = path;
  // Removed when the test process ends.
  struct temporary_files {
    std::vector<std::string> paths;
    temporary_files() = default;
    temporary_files(const temporary_files&) = delete;
    temporary_files& operator=(const temporary_files&) = delete;
    ~temporary_files() {
      for (const auto& p : paths) {
        std::remove(p.c_str());
      }
    }
  };
  static temporary_files files;
  files.paths.push_back(out.ca_file);
  return out;
}

}  // namespace smart::testing
