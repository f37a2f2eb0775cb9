package airlock

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/airlock-go/airlock/internal/sandbox"
)

// resolveRunAs turns a PluginConfig.RunAs ("nobody", "1001", "1001:1002")
// into a numeric user and group; empty means none.
func resolveRunAs(s string) (*sandbox.Credential, error) {
	if s == "" {
		return nil, nil
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("run_as = %q: only a host running as root can run a plugin as another user", s)
	}
	name, group, hasGroup := strings.Cut(s, ":")
	uid, gid, err := lookupUser(name)
	if err != nil {
		return nil, fmt.Errorf("run_as = %q: %v", s, err)
	}
	if hasGroup {
		if gid, err = lookupGroup(group); err != nil {
			return nil, fmt.Errorf("run_as = %q: %v", s, err)
		}
	}
	if uid == 0 {
		return nil, fmt.Errorf("run_as = %q: the plugin would run as root; name an unprivileged user", s)
	}
	return &sandbox.Credential{UID: uid, GID: gid}, nil
}

// lookupUser finds a user by name or number, and its primary group.
func lookupUser(s string) (uid, gid uint32, err error) {
	if n, perr := strconv.ParseUint(s, 10, 32); perr == nil {
		u, lerr := user.LookupId(s)
		if lerr != nil {
			return uint32(n), uint32(n), nil // a number need not be in the user database
		}
		g, _ := strconv.ParseUint(u.Gid, 10, 32)
		return uint32(n), uint32(g), nil
	}
	u, err := user.Lookup(s)
	if err != nil {
		return 0, 0, err
	}
	n, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("user %s has a non-numeric uid %q", s, u.Uid)
	}
	g, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("user %s has a non-numeric gid %q", s, u.Gid)
	}
	return uint32(n), uint32(g), nil
}

// lookupGroup finds a group by name or number.
func lookupGroup(s string) (uint32, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return uint32(n), nil
	}
	g, err := user.LookupGroup(s)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("group %s has a non-numeric gid %q", s, g.Gid)
	}
	return uint32(n), nil
}
