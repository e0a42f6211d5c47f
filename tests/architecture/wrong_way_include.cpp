// Compiled as part of history, which sits below sse: the build must refuse this include
// (the Architecture.WrongWayIncludeFailsToCompile test expects exactly that error).
#include "sse/encoder.hpp"

int main() { return 0; }
