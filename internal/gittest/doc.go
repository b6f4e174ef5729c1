// Package gittest serves real Git repositories to tests and to `make demo`:
// bare repositories in a temporary directory, commits made from in-memory
// file trees or directories on disk, branches and tags moved at will, all
// served over smart HTTP by `git http-backend` behind net/http/cgi,
// optionally behind basic auth.
//
// It does not mock Git: clients (go-git, the git CLI) talk the real protocol
// to a real server. It is test infrastructure and is never imported by
// plumb's own packages.
package gittest
