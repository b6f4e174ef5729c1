package gittest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"

	"golang.org/x/crypto/ssh"
)

// SSHServer serves the Server's repositories over SSH (git-upload-pack and
// git-receive-pack), accepting one client public key.
type SSHServer struct {
	// Addr is host:port; clone from ssh://git@Addr/<name>.git.
	Addr string
	// HostKey is the server's public key, for known_hosts.
	HostKey ssh.PublicKey

	dir      string
	listener net.Listener
	config   *ssh.ServerConfig
	wg       gosync.WaitGroup
}

// ServeSSH starts an SSH server for s's repositories that accepts only
// clientKey.
func (s *Server) ServeSSH(clientKey ssh.PublicKey) (*SSHServer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if string(key.Marshal()) == string(clientKey.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(signer)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ss := &SSHServer{Addr: l.Addr().String(), HostKey: signer.PublicKey(), dir: s.Dir, listener: l, config: cfg}
	ss.wg.Add(1)
	go ss.accept()
	return ss, nil
}

// KnownHosts returns a known_hosts line for this server.
func (ss *SSHServer) KnownHosts() []byte {
	host, port, _ := net.SplitHostPort(ss.Addr)
	return []byte(fmt.Sprintf("[%s]:%s %s", host, port, ssh.MarshalAuthorizedKey(ss.HostKey)))
}

// Close stops accepting connections.
func (ss *SSHServer) Close() error {
	err := ss.listener.Close()
	ss.wg.Wait()
	return err
}

func (ss *SSHServer) accept() {
	defer ss.wg.Done()
	for {
		conn, err := ss.listener.Accept()
		if err != nil {
			return
		}
		go ss.serveConn(conn)
	}
}

func (ss *SSHServer) serveConn(conn net.Conn) {
	defer conn.Close()
	_, chans, reqs, err := ssh.NewServerConn(conn, ss.config)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go ss.serveSession(ch, chReqs)
	}
}

// serveSession runs one "exec git-upload-pack '/repo.git'" request.
func (ss *SSHServer) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(false, nil)
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			_ = req.Reply(false, nil)
			return
		}
		service, arg, _ := strings.Cut(payload.Command, " ")
		repo := strings.Trim(arg, "'\"/")
		if (service != "git-upload-pack" && service != "git-receive-pack") || repo == "" || strings.Contains(repo, "..") {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		cmd := exec.Command("git", strings.TrimPrefix(service, "git-"), filepath.Join(ss.dir, repo))
		cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, io.Discard
		status := uint32(0)
		if err := cmd.Run(); err != nil {
			status = 1
		}
		b := make([]byte, 4)
		binary.BigEndian.PutUint32(b, status)
		_, _ = ch.SendRequest("exit-status", false, b)
		return
	}
}
