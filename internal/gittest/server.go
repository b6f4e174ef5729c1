package gittest

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"sync/atomic"

	gogit "github.com/go-git/go-git/v5"
)

// Options configure a Server.
type Options struct {
	// Username and Password, when set, require HTTP basic auth for every
	// request (fetch and push).
	Username, Password string
	// Dir holds the bare repositories; empty means a new temporary
	// directory, removed on Close.
	Dir string
	// Addr to listen on; empty means a free loopback port.
	Addr string
}

// Server serves bare repositories under URL + "/<name>.git".
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:34567.
	URL string
	// Dir holds the bare repositories.
	Dir string

	opts      Options
	removeDir bool
	listener  net.Listener
	srv       *http.Server
	served    gosync.WaitGroup
	requests  atomic.Int64
	handler   atomic.Pointer[http.Handler]
}

// NewServer starts a server. Close stops it.
func NewServer(opts Options) (*Server, error) {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		return nil, fmt.Errorf("gittest: git not found: %w", err)
	}
	s := &Server{Dir: opts.Dir, opts: opts}
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "plumb-gittest-"); err != nil {
			return nil, err
		}
		s.removeDir = true
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if s.listener, err = net.Listen("tcp", addr); err != nil {
		return nil, err
	}
	s.URL = "http://" + s.listener.Addr().String()
	backend := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.Dir,
			"GIT_HTTP_EXPORT_ALL=1",
		},
	}
	var h http.Handler = backend
	s.handler.Store(&h)
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve)}
	s.served.Add(1)
	go func() {
		defer s.served.Done()
		_ = s.srv.Serve(s.listener)
	}()
	return s, nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if s.opts.Username != "" || s.opts.Password != "" {
		user, pass, ok := r.BasicAuth()
		if !ok || !equal(user, s.opts.Username) || !equal(pass, s.opts.Password) {
			w.Header().Set("WWW-Authenticate", `Basic realm="gittest"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		// http-backend only accepts pushes from an authenticated user.
		r.Header.Set("Remote-User", user)
	}
	(*s.handler.Load()).ServeHTTP(w, r)
}

// SetHandler replaces the git backend for fault tests (a slow server, one
// answering garbage); the original is passed in so it can be wrapped.
func (s *Server) SetHandler(wrap func(backend http.Handler) http.Handler) {
	h := *s.handler.Load()
	wrapped := wrap(h)
	s.handler.Store(&wrapped)
}

// Requests counts HTTP requests served so far.
func (s *Server) Requests() int64 { return s.requests.Load() }

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// Close stops serving and removes the repositories if NewServer created
// their directory.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.served.Wait()
	if s.removeDir {
		if rerr := os.RemoveAll(s.Dir); rerr != nil && err == nil {
			err = rerr
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// CreateRepo creates an empty bare repository named name (".git" is
// appended) that accepts pushes.
func (s *Server) CreateRepo(name string) (*Repo, error) {
	if name == "" || strings.Contains(name, "..") || strings.HasPrefix(name, "/") {
		return nil, fmt.Errorf("gittest: invalid repository name %q", name)
	}
	dir := filepath.Join(s.Dir, name+".git")
	r, err := gogit.PlainInit(dir, true)
	if err != nil {
		return nil, fmt.Errorf("gittest: init %s: %w", name, err)
	}
	cfg, err := r.Config()
	if err != nil {
		return nil, err
	}
	// Let http-backend accept pushes without REMOTE_USER when no auth is set.
	cfg.Raw.Section("http").SetOption("receivepack", "true")
	cfg.Raw.Section("core").SetOption("sharedRepository", "false")
	if err := r.SetConfig(cfg); err != nil {
		return nil, err
	}
	if err := r.Storer.SetReference(newSymbolicHEAD("main")); err != nil {
		return nil, err
	}
	return &Repo{Name: name, Dir: dir, URL: s.URL + "/" + name + ".git", repo: r}, nil
}
