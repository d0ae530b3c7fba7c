using System.Buffers.Binary;
using FASTER.core;

namespace Tern.Spool.Tests;

/// <summary>
/// The log's device (real files, real FasterLog): writes on its own thread, the region past the tail
/// written with zeros, never over an entry; recovery reads every committed entry back; truncated
/// segments are really gone.
/// </summary>
public sealed class LogDeviceTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "tern-zeroahead-" + Guid.NewGuid().ToString("N"));

    public LogDeviceTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task The_file_is_zeroed_ahead_of_the_tail_and_every_committed_entry_is_recovered()
    {
        var options = new SpoolOptions { Directory = _dir, PageSizeBits = 16, MemorySizeBits = 20, SegmentSizeBits = 24, ZeroAhead = 8L << 20 };
        var device = (LogDevice?)null;
        using (var instance = LogInstance.Open(options, generation: 1, () => long.MaxValue))
        {
            device = Assert.IsType<LogDevice>(instance.Device);
            for (var i = 0; i < 2_000; i++)
            {
                instance.Log.Enqueue(Entry(i, 300));
                if (i % 50 == 49)
                {
                    await instance.Log.CommitAsync();
                }
            }

            await instance.Log.CommitAsync();
            var tail = instance.Log.TailAddress;
            await WaitUntilAsync(() => device.ZeroedUntil >= tail + (6L << 20));

            // Zeros went past the tail: the file is longer than the log, and what lies past the tail is zero.
            var file = new FileInfo(Path.Combine(_dir, "tern.log.0"));
            Assert.True(file.Length >= tail + (6L << 20), $"file {file.Length} bytes, tail {tail}");
            var past = new byte[1 << 20];
            using (var stream = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            {
                stream.Position = ((tail >> 16) + 2) << 16;
                stream.ReadExactly(past);
            }

            Assert.All(past, b => Assert.Equal(0, b));
            Assert.True(device.ZeroedBytes >= 6L << 20);
        }

        // Recovery over the zeroed region: every entry, in order, intact; the log goes on after them.
        using (var reopened = LogInstance.Open(options, generation: 2, () => long.MaxValue))
        {
            Assert.Equal(Enumerable.Range(0, 2_000), ReadAll(reopened.Log, 300));
            reopened.Log.Enqueue(Entry(2_000, 300));
            await reopened.Log.CommitAsync();
        }

        using var again = LogInstance.Open(options, generation: 3, () => long.MaxValue);
        Assert.Equal(Enumerable.Range(0, 2_001), ReadAll(again.Log, 300));
    }

    [Fact]
    public async Task Zeroing_racing_the_writers_at_the_tail_never_overwrites_an_entry()
    {
        // No margin: every zero chunk starts where the log writes next, across segment ends (4 MiB),
        // while eight writers append and commit. Entries carry their number in every byte.
        var inner = Devices.CreateLogDevice(Path.Combine(_dir, "tern.log"), preallocateFile: false, deleteOnClose: false, recoverDevice: true);
        var device = new LogDevice(inner, ahead: 2L << 20, margin: 0, () => long.MaxValue);
        var written = 0;
        using (var log = OpenLog(device))
        {
            var writers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
            {
                for (var i = 0; i < 1_500; i++)
                {
                    log.Enqueue(Entry(Interlocked.Increment(ref written), 700 + ((w * 131) + i) % 1500));
                    if (i % 10 == 9)
                    {
                        await log.CommitAsync();
                    }
                }
            })).ToArray();
            await Task.WhenAll(writers);
            await log.CommitAsync();
            Assert.True(device.ZeroedBytes > 0, "the zeroer never ran");
        }

        device.Dispose();
        var reopened = new LogDevice(
            Devices.CreateLogDevice(Path.Combine(_dir, "tern.log"), preallocateFile: false, deleteOnClose: false, recoverDevice: true),
            ahead: 2L << 20,
            margin: 0,
            () => long.MaxValue);
        using (var log = OpenLog(reopened))
        {
            var numbers = ReadAll(log, size: -1);
            Assert.Equal(Enumerable.Range(1, 12_000), numbers.Order());
        }

        reopened.Dispose();
    }

    [Fact]
    public async Task Nothing_is_zeroed_on_a_file_system_short_of_space()
    {
        var inner = Devices.CreateLogDevice(Path.Combine(_dir, "tern.log"), preallocateFile: false, deleteOnClose: false, recoverDevice: true);
        var device = new LogDevice(inner, ahead: 4L << 20, margin: 0, () => LogDevice.MinFreeForZeroing - 1);
        using (var log = new FasterLog(new FasterLogSettings { LogDevice = device, PageSizeBits = 16, MemorySizeBits = 20, SegmentSizeBits = 24, LogCommitDir = Path.Combine(_dir, "commits") }))
        {
            for (var i = 0; i < 500; i++)
            {
                log.Enqueue(Entry(i, 500));
            }

            await log.CommitAsync();
            await Task.Delay(200);
            Assert.Equal(0, device.ZeroedBytes);
            Assert.True(new FileInfo(Path.Combine(_dir, "tern.log.0")).Length < 1L << 20);
        }

        device.Dispose();
    }

    [Fact]
    public async Task A_truncated_segment_is_deleted_and_no_handle_keeps_it()
    {
        var options = new SpoolOptions { Directory = _dir, PageSizeBits = 16, MemorySizeBits = 20, SegmentSizeBits = 20, ZeroAhead = 0 };
        using var instance = LogInstance.Open(options, generation: 1, () => long.MaxValue);
        for (var i = 0; i < 3_000; i++)
        {
            instance.Log.Enqueue(Entry(i, 1_000));
        }

        await instance.Log.CommitAsync();
        Assert.True(instance.Log.TailAddress > 2L << 20, "the log should span three segments");
        Assert.True(File.Exists(Path.Combine(_dir, "tern.log.0")));

        instance.Log.TruncateUntil(2L << 20);
        await instance.Log.CommitAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        // Both truncated segments are deleted in the background, one after the other.
        while ((File.Exists(Path.Combine(_dir, "tern.log.0")) || File.Exists(Path.Combine(_dir, "tern.log.1"))) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.False(File.Exists(Path.Combine(_dir, "tern.log.0")));
        Assert.False(File.Exists(Path.Combine(_dir, "tern.log.1")));
        var open = Directory.GetFiles("/proc/self/fd").Select(fd => new FileInfo(fd).LinkTarget ?? "").Where(t => t.Contains(_dir, StringComparison.Ordinal)).ToList();
        Assert.DoesNotContain(open, t => t.Contains("tern.log.0", StringComparison.Ordinal) || t.Contains("tern.log.1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Segments_are_written_through_an_o_dsync_handle_not_o_sync()
    {
        using var device = new LogDevice(Devices.CreateLogDevice(Path.Combine(_dir, "tern.log"), preallocateFile: false, deleteOnClose: false, recoverDevice: true), ahead: 0, margin: 0, () => long.MaxValue);
        device.Initialize(1L << 20);
        Assert.Equal((0u, 4096u), await WriteAsync(device, segment: 0));

        // Linux x86-64 open flags, octal in /proc/self/fdinfo: O_DSYNC 010000; O_SYNC adds __O_SYNC 04000000.
        var flags = Directory.GetFiles("/proc/self/fd")
            .Where(fd => (new FileInfo(fd).LinkTarget ?? "") == Path.Combine(_dir, "tern.log.0"))
            .Select(fd => File.ReadAllLines($"/proc/self/fdinfo/{Path.GetFileName(fd)}").Single(l => l.StartsWith("flags:", StringComparison.Ordinal)))
            .Select(l => Convert.ToInt64(l["flags:".Length..].Trim(), 8))
            .Where(f => (f & 3) != 0)
            .ToList();
        Assert.Single(flags);
        Assert.NotEqual(0, flags[0] & 0x1000);
        Assert.Equal(0, flags[0] & 0x100000);
    }

    [Fact]
    public async Task After_a_failed_write_every_later_one_fails_without_reaching_the_disk()
    {
        // Segment 0's file cannot be opened (it is a directory): that write fails, and so does a later
        // one to segment 1, which is never created.
        Directory.CreateDirectory(Path.Combine(_dir, "tern.log.0"));
        using var device = new LogDevice(Devices.CreateLogDevice(Path.Combine(_dir, "tern.log"), preallocateFile: false, deleteOnClose: false, recoverDevice: true), ahead: 0, margin: 0, () => long.MaxValue);
        device.Initialize(1L << 20);
        var first = await WriteAsync(device, segment: 0);
        var second = await WriteAsync(device, segment: 1);

        Assert.NotEqual(0u, first.Error);
        Assert.Equal(first.Error, second.Error);
        Assert.Equal(0u, second.Bytes);
        Assert.False(File.Exists(Path.Combine(_dir, "tern.log.1")));
    }

    [Fact]
    public async Task A_throwing_completion_fails_the_device_instead_of_the_process()
    {
        using var device = new LogDevice(Devices.CreateLogDevice(Path.Combine(_dir, "tern.log"), preallocateFile: false, deleteOnClose: false, recoverDevice: true), ahead: 0, margin: 0, () => long.MaxValue);
        device.Initialize(1L << 20);
        var thrown = new TaskCompletionSource();
        var buffer = System.Runtime.InteropServices.Marshal.AllocHGlobal(4096);
        try
        {
            device.WriteAsync(buffer, 0, 0, 4096, (_, _, _) =>
            {
                thrown.SetResult();
                throw new InvalidOperationException("a bug in the completion");
            }, new object());
            await thrown.Task.WaitAsync(TimeSpan.FromSeconds(20));

            var after = await WriteAsync(device, segment: 0);
            Assert.NotEqual(0u, after.Error);
        }
        finally
        {
            System.Runtime.InteropServices.Marshal.FreeHGlobal(buffer);
        }
    }

    [Fact]
    public void A_read_completes_before_it_returns_on_the_calling_thread_and_its_handle_goes_with_the_segment()
    {
        var pattern = Enumerable.Range(0, 8192).Select(i => (byte)(i * 7)).ToArray();
        File.WriteAllBytes(Path.Combine(_dir, "tern.log.0"), pattern);
        var device = new LogDevice(Devices.CreateLogDevice(Path.Combine(_dir, "tern.log"), preallocateFile: false, deleteOnClose: false, recoverDevice: true), ahead: 0, margin: 0, () => long.MaxValue);
        device.Initialize(1L << 20);
        var buffer = System.Runtime.InteropServices.Marshal.AllocHGlobal(4096);
        try
        {
            var caller = Environment.CurrentManagedThreadId;
            (uint Error, uint Bytes, int Thread)? done = null;
            void Completed(uint error, uint bytes, object _) => done = (error, bytes, Environment.CurrentManagedThreadId);

            device.ReadAsync(0, 4096, buffer, 4096, Completed, new object());
            Assert.Equal((0u, 4096u, caller), done);
            var read = new byte[4096];
            System.Runtime.InteropServices.Marshal.Copy(buffer, read, 0, 4096);
            Assert.Equal(pattern[4096..], read);

            // Past the end of the file: fewer bytes, no error. A segment with no file: ENOENT, no exception.
            done = null;
            device.ReadAsync(4096, buffer, 4096, Completed, new object());
            Assert.Equal((0u, 4096u, caller), done);
            device.ReadAsync(0, 8192, buffer, 4096, Completed, new object());
            Assert.Equal((0u, 0u, caller), done);
            device.ReadAsync(1UL << 20, buffer, 4096, Completed, new object());
            Assert.Equal((2u, 0u, caller), done);

            // Removing the segment closes the read handle too: nothing keeps the deleted file.
            device.RemoveSegment(0);
            Assert.False(File.Exists(Path.Combine(_dir, "tern.log.0")));
            var open = Directory.GetFiles("/proc/self/fd").Select(fd => new FileInfo(fd).LinkTarget ?? "").ToList();
            Assert.DoesNotContain(open, t => t.Contains(Path.Combine(_dir, "tern.log.0"), StringComparison.Ordinal));

            // After the close a read fails without opening anything.
            File.WriteAllBytes(Path.Combine(_dir, "tern.log.0"), pattern);
            device.Dispose();
            device.ReadAsync(0, 0, buffer, 4096, Completed, new object());
            Assert.Equal((5u, 0u, caller), done);
        }
        finally
        {
            System.Runtime.InteropServices.Marshal.FreeHGlobal(buffer);
        }
    }

    /// <summary>One 4 KiB write at the start of <paramref name="segment"/>; its completion's error and byte count.</summary>
    private static async Task<(uint Error, uint Bytes)> WriteAsync(LogDevice device, int segment)
    {
        var buffer = System.Runtime.InteropServices.Marshal.AllocHGlobal(4096);
        try
        {
            var done = new TaskCompletionSource<(uint, uint)>(TaskCreationOptions.RunContinuationsAsynchronously);
            device.WriteAsync(buffer, segment, 0, 4096, (error, bytes, _) => done.SetResult((error, bytes)), new object());
            return await done.Task.WaitAsync(TimeSpan.FromSeconds(20));
        }
        finally
        {
            System.Runtime.InteropServices.Marshal.FreeHGlobal(buffer);
        }
    }

    /// <summary>A log with 64 KiB pages in 4 MiB segments over <paramref name="device"/>, recovering what the directory holds.</summary>
    private FasterLog OpenLog(IDevice device) => new(new FasterLogSettings
    {
        LogDevice = device,
        PageSizeBits = 16,
        MemorySizeBits = 20,
        SegmentSizeBits = 22,
        LogCommitDir = Path.Combine(_dir, "commits"),
        LogChecksum = LogChecksumType.PerEntry,
        TryRecoverLatest = true,
    });

    /// <summary>An entry of <paramref name="size"/> bytes: its number, then its low byte repeated.</summary>
    private static byte[] Entry(int number, int size)
    {
        var entry = new byte[size];
        BinaryPrimitives.WriteInt32LittleEndian(entry, number);
        entry.AsSpan(4).Fill((byte)number);
        return entry;
    }

    /// <summary>Every committed entry's number, checking each entry's bytes (and size, unless -1).</summary>
    private static List<int> ReadAll(FasterLog log, int size)
    {
        var numbers = new List<int>();
        using var iterator = log.Scan(log.BeginAddress, log.TailAddress);
        while (iterator.GetNext(out var entry, out var length, out _))
        {
            var number = BinaryPrimitives.ReadInt32LittleEndian(entry);
            Assert.True(size < 0 || length == size, $"entry {number}: {length} bytes");
            Assert.True(entry.AsSpan(4, length - 4).IndexOfAnyExcept((byte)number) < 0, $"entry {number} was overwritten");
            numbers.Add(number);
        }

        return numbers;
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(10);
        }
    }
}
