//go:build !wasip1

package plugin

// Reactor registers the plugin a WebAssembly build of this program serves.
// Outside a wasm build it does nothing, so one source file can serve both
// tiers:
//
//	func init() { plugin.Reactor(newPlugin) }   // wasm build
//	func main() { newPlugin().Main() }           // process build
func Reactor(newPlugin func() *Plugin) {}
