// Command kfakeserver runs franz-go's kfake cluster, the reference of the
// benchmarks, as a process of its own: one broker on a free loopback port
// with the given topics (8 partitions each), whose address it prints as
// its first line of output. It runs until its standard input closes.
//
//	kfakeserver TOPIC...
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(8, os.Args[1:]...))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfakeserver:", err)
		os.Exit(1)
	}
	defer c.Close()
	fmt.Println(c.ListenAddrs()[0])
	_, _ = io.Copy(io.Discard, os.Stdin)
}
