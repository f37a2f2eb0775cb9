// Command rawecho echoes each line of its input: the physical limit of a
// pipe round trip between two Go processes, for the benchmarks.
package main

import (
	"bufio"
	"os"
)

func main() {
	r := bufio.NewReaderSize(os.Stdin, 1<<20)
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			w.Write(line)
			continue
		}
		if err != nil {
			return
		}
		w.Write(line)
		w.Flush()
	}
}
