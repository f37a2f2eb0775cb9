package oci

import (
	"net"
	"net/http"
	"net/netip"
	"time"

	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// Client reaches registries. The zero Client is anonymous and speaks
// HTTPS, except to registries on this machine (localhost, loopback
// addresses).
type Client struct {
	// PlainHTTP allows plain HTTP to every registry, not only to this
	// machine's.
	PlainHTTP bool
	// Credential returns the credentials for a registry (nil: anonymous).
	// DockerCredentials reads the ones "docker login" or "oras login" saved.
	Credential auth.CredentialFunc
	// HTTP is the HTTP client (nil: one with connection timeouts).
	HTTP *http.Client
	// Stall bounds a slow transfer: a manifest or a layer that brings
	// fewer than MinStallBytes in any Stall period fails (default 30s).
	Stall time.Duration
}

// DockerCredentials returns the credentials saved by docker login (or
// oras login) in ~/.docker/config.json or $DOCKER_CONFIG, through its
// credential helpers if it names any.
func DockerCredentials() (auth.CredentialFunc, error) {
	store, err := credentials.NewStoreFromDocker(credentials.StoreOptions{})
	if err != nil {
		return nil, err
	}
	return credentials.Credential(store), nil
}

// repository returns the client library's handle on ref's repository.
func (c *Client) repository(ref Reference) (*remote.Repository, error) {
	repo, err := remote.NewRepository(ref.repo())
	if err != nil {
		return nil, err
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP()
	}
	repo.Client = &auth.Client{Client: hc, Credential: c.Credential, Cache: auth.NewCache()}
	repo.PlainHTTP = c.PlainHTTP || isLoopback(ref.Registry)
	return repo, nil
}

// defaultHTTP bounds connecting and waiting for an answer, so that an
// unreachable registry fails in seconds, not whenever TCP gives up; the
// body of a large package may take longer.
func defaultHTTP() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: retry.NewTransport(t)}
}

// isLoopback reports whether a registry is on this machine. Threat:
// plain HTTP lets anyone on the network read the credentials sent and
// change what is fetched (the digest and the signature would refuse the
// changed bytes, but the plugin would not load); traffic to a loopback
// address never leaves the machine, so only there is it allowed without
// the operator's explicit choice.
func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.IsLoopback()
}
