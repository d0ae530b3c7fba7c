using Microsoft.Extensions.Time.Testing;

namespace Tern.Spool.Tests;

public sealed class MessageIdTests
{
    [Fact]
    public void Ids_from_one_millisecond_sort_in_the_order_they_were_handed_out()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-06T01:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var ids = new MessageIdGenerator(clock);
        var handedOut = Enumerable.Range(0, 10_000).Select(_ => ids.Next()).ToList();

        Assert.Equal(handedOut, handedOut.OrderBy(id => id.ToString(), StringComparer.Ordinal));
        Assert.Equal(handedOut.Count, handedOut.Distinct().Count());
        Assert.All(handedOut, id => Assert.Equal(clock.GetUtcNow(), id.Time));
    }

    [Fact]
    public void Ids_keep_their_order_when_the_clock_steps_back()
    {
        var clock = new SettableClock { Now = DateTimeOffset.Parse("2026-12-06T01:00:00Z", System.Globalization.CultureInfo.InvariantCulture) };
        var ids = new MessageIdGenerator(clock);
        var before = ids.Next();
        clock.Now -= TimeSpan.FromSeconds(5);
        var after = ids.Next();
        clock.Now += TimeSpan.FromSeconds(10);
        var later = ids.Next();

        Assert.True(string.CompareOrdinal(after.ToString(), before.ToString()) > 0);
        Assert.True(string.CompareOrdinal(later.ToString(), after.ToString()) > 0);
        Assert.Equal(clock.GetUtcNow(), later.Time);
    }

    [Fact]
    public void Ids_handed_out_concurrently_are_unique()
    {
        var ids = new MessageIdGenerator(TimeProvider.System);
        var all = new MessageId[8][];
        Parallel.For(0, 8, t => all[t] = Enumerable.Range(0, 5_000).Select(_ => ids.Next()).ToArray());

        Assert.Equal(40_000, all.SelectMany(a => a).Distinct().Count());
        Assert.All(all, a => Assert.Equal(a, a.OrderBy(id => id.ToString(), StringComparer.Ordinal)));
    }

    /// <summary>A clock that can be set backwards (FakeTimeProvider refuses to).</summary>
    private sealed class SettableClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; }

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
