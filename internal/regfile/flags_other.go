//go:build !unix

package regfile

// No pipes to block on here in the Unix sense; links are refused by
// refuseLink.
const (
	nonBlock = 0
	noFollow = 0
)
