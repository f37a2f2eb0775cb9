package protocol

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// codes are this package's error codes by a spelling-free name
// ("notimplemented"), with the SDKs' other names for them.
var codes = map[string]int{
	"parseerror":     CodeParseError,
	"invalidrequest": CodeInvalidRequest,
	"methodnotfound": CodeMethodNotFound,
	"invalidparams":  CodeInvalidParams,
	"invalidinput":   CodeInvalidParams, // the Go and C SDKs' name: a handler's input did not fit
	"internalerror":  CodeInternalError,
	"failed":         CodeFailed,
	"denied":         CodeDenied,
	"cancelled":      CodeCancelled,
	"busy":           CodeBusy,
	"notimplemented": CodeNotImplemented,
	"ratelimited":    CodeRateLimited,
	"nocall":         CodeInvalidRequest, // the native ABI's: a host call outside a call
}

// Every SDK's error codes agree with this package: a plugin in any language
// answers with the codes the host tests for.
func TestSDKCodesMatch(t *testing.T) {
	sdks := []struct {
		file string
		re   string // captures a name and a value
		must []string
	}{
		{"sdk/python/airlock_plugin.py", `(?m)^([A-Z_]+) = (-32\d{3})\b`, []string{"failed", "denied", "cancelled", "notimplemented", "invalidparams"}},
		{"sdk/typescript/index.d.ts", `(?m)^\s+([A-Za-z]+): (-32\d{3});`, []string{"failed", "denied", "cancelled", "notimplemented", "invalidparams", "ratelimited"}},
		{"sdk/rust/src/error.rs", `pub const ([A-Z_]+): i64 = (-32\d{3});`, []string{"failed", "denied", "cancelled", "notimplemented", "invalidparams", "ratelimited"}},
		{"sdk/c/airlock.h", `#define AIRLOCK_([A-Z_]+) (-32\d{3})\b`, []string{"failed", "denied", "cancelled", "notimplemented", "invalidinput"}},
		{"sdk/c/airlock_native.h", `#define AIRLOCK_NATIVE_([A-Z_]+) (-32\d{3})\b`, []string{"failed", "denied", "cancelled", "notimplemented", "invalidinput"}},
		{"sdk/rust-native/src/lib.rs", `pub const ([A-Z_]+): i32 = (-32\d{3});`, []string{"failed", "denied", "cancelled", "notimplemented", "invalidinput"}},
		{"sdk/go/plugin/plugin.go", `(?m)^\s+Code([A-Za-z]+)\s+= (-32\d{3}|protocol\.Code[A-Za-z]+)\b`, []string{"failed", "denied", "cancelled", "notimplemented", "invalidinput"}},
	}
	for _, sdk := range sdks {
		t.Run(sdk.file, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("..", sdk.file))
			if err != nil {
				t.Fatal(err)
			}
			found := map[string]bool{}
			for _, m := range regexp.MustCompile(sdk.re).FindAllStringSubmatch(string(src), -1) {
				name := strings.ToLower(strings.ReplaceAll(m[1], "_", ""))
				want, known := codes[name]
				if !known {
					t.Errorf("%s defines %s = %s, which is not a protocol code", sdk.file, m[1], m[2])
					continue
				}
				found[name] = true
				if strings.HasPrefix(m[2], "protocol.") {
					continue // the Go SDK takes the value from this package
				}
				if got, _ := strconv.Atoi(m[2]); got != want {
					t.Errorf("%s: %s = %d, want %d", sdk.file, m[1], got, want)
				}
			}
			for _, name := range sdk.must {
				if !found[name] {
					t.Errorf("%s does not define the code %q", sdk.file, name)
				}
			}
		})
	}
}
