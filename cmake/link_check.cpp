// An empty program for the layer link checks (CMakeLists.txt): each layer's
// library is linked into it whole, so that every symbol it uses must come
// from its own link line.
int main() {
  return 0;
}
