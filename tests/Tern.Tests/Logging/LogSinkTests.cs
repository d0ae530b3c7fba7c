using System.Text;
using Tern.Observability.Logging;

namespace Tern.Tests.Logging;

public sealed class LogSinkTests
{
    [Fact]
    public void Lines_from_many_threads_arrive_whole_and_every_one_once()
    {
        var output = new SharedStream();
        using (var sink = new LogSink(output))
        {
            Parallel.For(0, 8, t =>
            {
                var line = new StringBuilder();
                for (var i = 0; i < 2_000; i++)
                {
                    line.Clear().Append("t=").Append(t).Append(" i=").Append(i).Append(' ').Append('x', 50 + (i % 200)).Append('\n');
                    sink.Write(line);
                }
            });
        }

        var lines = output.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(16_000, lines.Length);
        Assert.All(lines, l => Assert.Matches(@"^t=\d i=(\d+) x+$", l));
        Assert.Equal(16_000, lines.Distinct().Count());

        // Each thread's lines keep their order.
        foreach (var thread in lines.GroupBy(l => l[..3]))
        {
            var order = thread.Select(l => int.Parse(l.Split(' ')[1][2..], System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(Enumerable.Range(0, 2_000), order);
        }
    }

    [Fact]
    public async Task A_line_reaches_the_stream_shortly_without_a_flush()
    {
        var output = new SharedStream();
        using var sink = new LogSink(output, TimeSpan.FromMilliseconds(2));
        sink.Write(new StringBuilder("one line\n"));

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (output.Text.Length == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(5);
        }

        Assert.Equal("one line\n", output.Text);
    }

    [Fact]
    public async Task Each_later_burst_of_lines_reaches_the_stream_without_a_flush_too()
    {
        // The writer sleeps on an auto-reset signal between bursts: every burst after the first must
        // wake it again, including one logged while it is writing the one before.
        var output = new SharedStream();
        using var sink = new LogSink(output, TimeSpan.FromMilliseconds(2));
        var expected = new StringBuilder();
        for (var burst = 0; burst < 20; burst++)
        {
            var line = new StringBuilder().Append("burst ").Append(burst).Append('\n');
            sink.Write(line);
            expected.Append(line);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
            while (output.Text.Length < expected.Length && DateTime.UtcNow < deadline)
            {
                await Task.Delay(burst % 3);
            }

            Assert.Equal(expected.ToString(), output.Text);
        }
    }

    [Fact]
    public void A_line_larger_than_the_buffer_is_written_whole_after_the_pending_ones()
    {
        var output = new SharedStream();
        var big = new string('y', 200_000);
        using (var sink = new LogSink(output, TimeSpan.FromSeconds(30)))
        {
            sink.Write(new StringBuilder("first\n"));
            sink.Write(new StringBuilder(big).Append('\n'));
            sink.Write(new StringBuilder("last\n"));
            sink.Flush();
            Assert.Equal("first\n" + big + "\nlast\n", output.Text);
        }
    }

    [Fact]
    public void Without_a_delay_each_line_is_written_at_once_and_after_dispose_lines_still_go_out()
    {
        var output = new SharedStream();
        var sink = new LogSink(output, TimeSpan.Zero);
        sink.Write(new StringBuilder("now\n"));
        Assert.Equal("now\n", output.Text);

        var buffered = new LogSink(output);
        buffered.Write(new StringBuilder("pending\n"));
        buffered.Dispose();
        Assert.Equal("now\npending\n", output.Text);
        buffered.Write(new StringBuilder("late\n"));
        Assert.Equal("now\npending\nlate\n", output.Text);
        sink.Dispose();
    }

    [Fact]
    public void A_line_built_in_several_chunks_keeps_its_non_ascii_text()
    {
        var output = new SharedStream();
        var line = new StringBuilder(3);
        for (var i = 0; i < 50; i++)
        {
            line.Append("ü😀");
        }

        line.Append('\n');
        using (var sink = new LogSink(output))
        {
            sink.Write(line);
        }

        Assert.Equal(string.Concat(Enumerable.Repeat("ü😀", 50)) + "\n", output.Text);
    }

    [Fact]
    public void A_stream_that_fails_does_not_fail_the_caller()
    {
        using var sink = new LogSink(new BrokenStream(), TimeSpan.FromMilliseconds(1));
        sink.Write(new StringBuilder("lost\n"));
        sink.Flush();
        Thread.Sleep(20);
        sink.Write(new StringBuilder("lost too\n"));
    }

    [Fact]
    public async Task A_logging_thread_does_not_wait_for_a_stalled_output()
    {
        // The sink's thread is stuck in write(2) (a slow disk, a stopped pipe reader): loggers still
        // only take the lock over the buffer, never the one held across the write.
        var output = new StalledStream();
        using var sink = new LogSink(output, TimeSpan.FromMilliseconds(1));
        sink.Write(new StringBuilder("first\n"));
        Assert.True(output.Entered.Wait(TimeSpan.FromSeconds(10)), "the sink's thread never wrote");

        var logging = Task.Run(() =>
        {
            for (var i = 0; i < 100; i++)
            {
                sink.Write(new StringBuilder("second ").Append(i).Append('\n'));
            }
        });
        var finished = await Task.WhenAny(logging, Task.Delay(TimeSpan.FromSeconds(10)));
        output.Release();
        Assert.Same(logging, finished);
        await logging;

        sink.Flush();
        var lines = output.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["first", .. Enumerable.Range(0, 100).Select(i => $"second {i}")], lines);
    }

    /// <summary>A stream whose writes block until released; what was written is kept.</summary>
    private sealed class StalledStream : Stream
    {
        private readonly ManualResetEventSlim _gate = new(false);
        private readonly SharedStream _inner = new();

        public ManualResetEventSlim Entered { get; } = new(false);

        public string Text => _inner.Text;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public void Release() => _gate.Set();

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            Entered.Set();
            _gate.Wait();
            _inner.Write(buffer, offset, count);
        }
    }

    /// <summary>A memory stream safe to read while the sink's thread writes.</summary>
    private sealed class SharedStream : Stream
    {
        private readonly MemoryStream _inner = new();
        private readonly Lock _lock = new();

        public string Text
        {
            get
            {
                lock (_lock)
                {
                    return Encoding.UTF8.GetString(_inner.ToArray());
                }
            }
        }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (_lock)
            {
                _inner.Write(buffer, offset, count);
            }
        }
    }

    private sealed class BrokenStream : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => 0;

        public override long Position { get => 0; set { } }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => 0;

        public override long Seek(long offset, SeekOrigin origin) => 0;

        public override void SetLength(long value)
        {
        }

        public override void Write(byte[] buffer, int offset, int count) => throw new IOException("stderr is gone");
    }
}
