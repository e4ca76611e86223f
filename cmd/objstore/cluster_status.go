package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// statusTimeout bounds the whole GET of objstore cluster status: a node
// that accepts the connection and never answers must not hang the
// command.
const statusTimeout = 10 * time.Second

const clusterUsage = `Usage:
  objstore cluster status [flags]   list the members of the cluster as one node sees them
                                    (objstore cluster status -h lists its flags)
`

// clusterCmd dispatches the subcommands of objstore cluster.
func clusterCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, clusterUsage)
		return errors.New("cluster: no subcommand given")
	}
	switch args[0] {
	case "status":
		return clusterStatus(ctx, args[1:], stdout, stderr, getenv)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, clusterUsage)
		return nil
	}
	fmt.Fprint(stderr, clusterUsage)
	return fmt.Errorf("cluster: unknown subcommand %q", args[0])
}

// clusterStatus prints the members GET /api/v1/nodes of one node lists.
func clusterStatus(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newEnvFlagSet("cluster status", "objstore cluster status [flags]")
	fs.SetOutput(stderr)
	nodeURL := fs.String("node", "http://127.0.0.1:10999", "`URL` of the public API of any node of the cluster")
	token := fs.String("api-token", "", "bearer `token` of the node's /api/v1 (its --api-token)")
	if err := fs.ParseEnv(args, getenv); err != nil {
		return fmt.Errorf("cluster status: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("cluster status: unexpected argument %q", fs.Arg(0))
	}
	base, err := nodeBase(*nodeURL)
	if err != nil {
		return fmt.Errorf("cluster status: %w", fs.invalid("node", err))
	}
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	members, err := fetchNodes(ctx, http.DefaultClient, base, *token)
	if err != nil {
		return fmt.Errorf("cluster status: %w", err)
	}
	return writeStatus(stdout, members)
}

// nodeBase checks a --node URL and returns it without a trailing slash.
// A bare host:port means http.
func nodeBase(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("URL %q: want http://host:port or https://host:port", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// fetchNodes GETs base's /api/v1/nodes.
func fetchNodes(ctx context.Context, c *http.Client, base, token string) ([]nodeInfo, error) {
	u := base + "/api/v1/nodes"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the message already
		}
		return nil, fmt.Errorf("node %s unreachable: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		text := strings.TrimSpace(string(msg))
		if resp.StatusCode == http.StatusUnauthorized && token == "" {
			text += " (the node wants --api-token)"
		}
		return nil, fmt.Errorf("GET %s: %s: %s", u, resp.Status, text)
	}
	var members []nodeInfo
	if err := json.NewDecoder(resp.Body).Decode(&members); err != nil {
		return nil, fmt.Errorf("GET %s: decode the members list: %w", u, err)
	}
	return members, nil
}

// writeStatus prints members as an aligned table, the node that answered
// marked with a *. READY says whether a live member has caught up (only
// ready members own keys); it means nothing for a dead or left one.
func writeStatus(w io.Writer, members []nodeInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tID\tSTATE\tREADY\tPUBLIC\tPEER\tVERSION\tUSED/CAPACITY\tOBJECTS")
	for _, m := range members {
		self := ""
		if m.Self {
			self = "*"
		}
		ready := "-"
		if m.State == "alive" || m.State == "suspect" {
			ready = "no"
			if m.Ready {
				ready = "yes"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s / %s\t%d\n", self, m.ID, m.State, ready, orDash(m.PublicAddr), orDash(m.PeerAddr),
			orDash(m.Version), humanBytes(m.Used), humanBytes(m.Capacity), m.Objects)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// humanBytes formats n bytes with a binary unit, as --cache-size takes
// them: 512 B, 1.5 KiB, 61.2 GiB.
func humanBytes(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, i := float64(n)/1024, 0
	for v >= 1023.95 && i < len(units)-1 { // 1023.95 and up would print as 1024.0
		v /= 1024
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i:i+1] + "iB"
}
