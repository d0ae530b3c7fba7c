using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Tern.Observability.Metrics;
using Tern.Spool;
using Tern.Spool.Queue;
using Tern.Suppression;
using Tern.Tests.Support;

namespace Tern.Scheduler.Tests.Engine;

/// <summary>
/// A real spool in a temporary directory, a fake clock the test moves, a scripted deliverer and the
/// scheduler on top. The spool reads the fake time but keeps real timers (its commit loop must run).
/// </summary>
internal sealed class SchedulerFixture : IAsyncDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tern-sched-").FullName;
    private bool _started;

    public SchedulerFixture(Func<SchedulerOptions, SchedulerOptions>? tune = null, double random = 0)
    {
        Options = (tune ?? (o => o))(new SchedulerOptions { Resolution = TimeSpan.FromMilliseconds(100) });
        Random = random;
        Spool = OpenSpool();
        Suppression = SuppressionList.Open(Path.Combine(_dir, "suppression.tsv"), Clock);
    }

    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.FromUnixTimeMilliseconds(1_790_000_000_000));

    public ScriptedDeliverer Deliverer { get; } = new();

    /// <summary>What the spool and the scheduler recorded (the spool's series are those of the first spool opened).</summary>
    public RecordingMetrics Metrics { get; } = new();

    public SchedulerOptions Options { get; }

    public double Random { get; }

    public Spool.Spool Spool { get; private set; }

    public SuppressionList Suppression { get; private set; }

    public DeliveryScheduler? Scheduler { get; private set; }

    private Spool.Spool OpenSpool() => Tern.Spool.Spool.Open(TestSpoolOptions.Small(Path.Combine(_dir, "spool")), NullLoggerFactory.Instance, Spool is null ? Metrics : NullMetrics.Instance, new ReadOnlyClock(Clock));

    public DeliveryScheduler Start()
    {
        Scheduler = new DeliveryScheduler(Spool, Deliverer, Options, NullLoggerFactory.Instance, _started ? NullMetrics.Instance : Metrics, Suppression, Clock, () => Random);
        _started = true;
        Scheduler.Start();
        return Scheduler;
    }

    /// <summary>Stops the scheduler and the spool, and opens the spool again (a restart), without starting a scheduler.</summary>
    public async Task RestartAsync()
    {
        if (Scheduler is not null)
        {
            await Scheduler.DisposeAsync();
            Scheduler = null;
        }

        await Spool.DisposeAsync();
        Spool = OpenSpool();
    }

    public async Task<MessageId> SubmitAsync(string sender, params string[] recipients) => await SubmitAsync(sender, StoredNotify.Failure | StoredNotify.Delay, recipients);

    public async Task<MessageId> SubmitAsync(string sender, StoredNotify notify, params string[] recipients)
    {
        using var w = Spool.Begin();
        w.Envelope.SetSender(Encoding.UTF8.GetBytes(sender));
        foreach (var r in recipients)
        {
            w.Envelope.AddRecipient(Encoding.UTF8.GetBytes(r), notify, []);
        }

        w.Write("From: a@example.org\r\nSubject: test\r\n\r\nbody\r\n"u8);
        Assert.True(await w.CommitAsync(CancellationToken.None));
        await Spool.CaughtUpAsync();
        return w.Id;
    }

    public QueueEntry Entry(MessageId id) => Spool.Entry(id) ?? throw new InvalidOperationException($"no entry {id}");

    /// <summary>Moves the fake clock in small steps (so the scheduler's tick timer fires on the way).</summary>
    public void Advance(TimeSpan by)
    {
        var step = TimeSpan.FromMilliseconds(Math.Max(100, by.TotalMilliseconds / 20));
        for (var left = by; left > TimeSpan.Zero; left -= step)
        {
            Clock.Advance(left < step ? left : step);
        }
    }

    /// <summary>Waits (real time, bounded) until the condition holds.</summary>
    public static async Task Eventually(Func<bool> condition, string what, int seconds = 15)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > until)
            {
                Assert.Fail("timed out waiting until " + what);
            }

            await Task.Delay(10);
        }
    }

    /// <summary>Lets the scheduler's loops run (real time) to show that something does NOT happen.</summary>
    public static Task Settle() => Task.Delay(300);

    public async ValueTask DisposeAsync()
    {
        if (Scheduler is not null)
        {
            await Scheduler.DisposeAsync();
        }

        await Spool.DisposeAsync();
        Suppression.Dispose();
        Directory.Delete(_dir, true);
    }

    /// <summary>The fake clock's time with real timers.</summary>
    private sealed class ReadOnlyClock(TimeProvider time) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => time.GetUtcNow();
    }
}
