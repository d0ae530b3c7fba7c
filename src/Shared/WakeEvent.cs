using System.Runtime.InteropServices;

namespace Tern.Platform;

/// <summary>
/// An auto-reset event for one thread of our own that sleeps until there is work (the log device's
/// writer and zeroer, the log sink's writer), on a POSIX semaphore: a set wakes the waiter with one
/// futex call, and a set while nobody sleeps costs one interlocked exchange. ManualResetEventSlim
/// sleeps and wakes through Monitor, which Native AOT on Unix builds on its managed wait subsystem
/// with one lock for the whole process; on the log writer that meant ~3 futex calls and ~4 context
/// switches per write (perf).
/// Sets while the waiter runs collapse into one: the waiter drains its queue after each wake-up.
/// One waiting thread at a time. The semaphore is freed by the finalizer, once no thread can use it.
/// </summary>
internal sealed unsafe partial class WakeEvent
{
    private const int Idle = 0;
    private const int Signalled = 1;
    private const int Sleeping = 2;
    private const int EIntr = 4;

    /// <summary>glibc's sem_t is 32 bytes on 64-bit targets (musl declares 128 and uses a few); 64 are allocated, aligned: the binary links glibc.</summary>
    private const int SemaphoreBytes = 64;

    private readonly void* _semaphore;
    private int _state;

    public WakeEvent()
    {
        _semaphore = NativeMemory.AlignedAlloc(SemaphoreBytes, 64);
        NativeMemory.Clear(_semaphore, SemaphoreBytes);
        if (SemInit(_semaphore, 0, 0) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            NativeMemory.AlignedFree(_semaphore);
            GC.SuppressFinalize(this);
            throw new IOException($"sem_init failed: errno {errno}");
        }
    }

    ~WakeEvent()
    {
        _ = SemDestroy(_semaphore);
        NativeMemory.AlignedFree(_semaphore);
    }

    /// <summary>Wakes the waiter, or makes its next <see cref="Wait"/> return at once.</summary>
    public void Set()
    {
        if (Interlocked.Exchange(ref _state, Signalled) == Sleeping)
        {
            _ = SemPost(_semaphore);
        }
    }

    /// <summary>Returns at the next <see cref="Set"/>, at once if one came since the last return.</summary>
    public void Wait()
    {
        if (Interlocked.CompareExchange(ref _state, Sleeping, Idle) == Idle)
        {
            // A set from here on posts (it finds Sleeping): the semaphore then lets us through.
            while (SemWait(_semaphore) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno != EIntr)
                {
                    throw new IOException($"sem_wait failed: errno {errno}");
                }
            }
        }

        // Consumed with a full fence: what was queued before any set seen here is visible to the
        // caller's drain that follows; a set after this makes the next Wait return at once.
        Interlocked.Exchange(ref _state, Idle);
    }

    [LibraryImport("libc", EntryPoint = "sem_init", SetLastError = true)]
    private static partial int SemInit(void* semaphore, int shared, uint value);

    [LibraryImport("libc", EntryPoint = "sem_destroy", SetLastError = true)]
    private static partial int SemDestroy(void* semaphore);

    [LibraryImport("libc", EntryPoint = "sem_post", SetLastError = true)]
    private static partial int SemPost(void* semaphore);

    [LibraryImport("libc", EntryPoint = "sem_wait", SetLastError = true)]
    private static partial int SemWait(void* semaphore);
}
