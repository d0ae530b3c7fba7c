using System.Text;
using Tern.Suppression;

namespace Tern.Suppression.Tests;

public sealed class SuppressionListTests : IDisposable
{
    private const string NoSuchUser = "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown";
    private const string MailboxFull = "552 5.2.2 Mailbox full";

    private readonly string _dir = Directory.CreateTempSubdirectory("tern-suppression-").FullName;
    private readonly ManualClock _clock = new();

    private string FilePath => Path.Combine(_dir, SuppressionList.FileName);

    public void Dispose() => Directory.Delete(_dir, true);

    private SuppressionList Open(int threshold = SuppressionList.DefaultThreshold, int maxTracked = SuppressionList.DefaultMaxTracked) =>
        SuppressionList.Open(FilePath, _clock, threshold, maxTracked: maxTracked);

    [Fact]
    public void Open_creates_an_empty_private_file_with_a_header()
    {
        using (var list = Open())
        {
            Assert.Equal(0, list.Count);
            Assert.False(list.TryGet("bob@example.net", out _));
            Assert.Empty(list.List());
            Assert.Equal(FilePath, list.FilePath);
        }

        Assert.Equal("tern-suppression\t1\n", File.ReadAllText(FilePath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(FilePath));
        Assert.Equal([SuppressionList.FileName], Directory.GetFiles(_dir).Select(Path.GetFileName));
    }

    [Fact]
    public void A_no_such_user_reply_suppresses_at_once()
    {
        using var list = Open();
        var entry = list.RecordPermanentFailure("bob@example.net", NoSuchUser + "\r\n");
        Assert.NotNull(entry);
        Assert.Equal(new SuppressionEntry("bob@example.net", NoSuchUser, _clock.GetUtcNow(), SuppressionSource.Bounce), entry);
        Assert.True(list.TryGet("bob@example.net", out var got));
        Assert.Same(entry, got);
        Assert.Equal(1, list.Count);

        // Asking again changes nothing and returns the entry it has.
        _clock.Advance(TimeSpan.FromHours(1));
        Assert.Same(entry, list.RecordPermanentFailure("bob@example.net", MailboxFull));
        Assert.Same(entry, list.RecordPermanentFailure("BOB@example.net", NoSuchUser));
        Assert.Equal(1, list.Count);
    }

    [Fact]
    public void Other_permanent_failures_suppress_at_the_third_consecutive_one()
    {
        using var list = Open();
        Assert.Null(list.RecordPermanentFailure("carol@example.org", MailboxFull));
        Assert.Equal(1, list.FailureCount("carol@example.org"));
        Assert.Null(list.RecordPermanentFailure("carol@example.org", "554 5.6.0 Content refused"));
        Assert.Equal(2, list.FailureCount("carol@example.org"));
        Assert.False(list.TryGet("carol@example.org", out _));

        var entry = list.RecordPermanentFailure("Carol@Example.org", "552-5.2.2 Mailbox full\r\n552 5.2.2 really");
        Assert.NotNull(entry);
        Assert.Equal(SuppressionSource.RepeatedFailures, entry.Source);
        Assert.Equal("carol@example.org", entry.Address);
        Assert.Equal("3 consecutive permanent failures, the last: 552-5.2.2 Mailbox full\r\n552 5.2.2 really", entry.Reason);
        Assert.True(list.TryGet("carol@example.org", out _));
        Assert.Equal(0, list.FailureCount("carol@example.org"));
        Assert.Equal(0, list.TrackedFailures);
    }

    [Fact]
    public void A_delivery_resets_the_count()
    {
        using var list = Open();
        list.RecordPermanentFailure("dave@example.org", MailboxFull);
        list.RecordPermanentFailure("dave@example.org", MailboxFull);
        list.RecordDelivered("DAVE@example.org");
        Assert.Equal(0, list.FailureCount("dave@example.org"));
        Assert.Null(list.RecordPermanentFailure("dave@example.org", MailboxFull));
        Assert.Null(list.RecordPermanentFailure("dave@example.org", MailboxFull));
        Assert.NotNull(list.RecordPermanentFailure("dave@example.org", MailboxFull));

        // A delivery to an address without failures costs nothing: nothing is written.
        var before = list.JournalBytes;
        list.RecordDelivered("erin@example.org");
        Assert.Equal(before, list.JournalBytes);
    }

    [Fact]
    public void Temporary_failures_and_text_without_a_code_are_ignored()
    {
        using var list = Open(threshold: 1);
        Assert.Null(list.RecordPermanentFailure("a@example.org", "450 4.2.1 Mailbox busy"));
        Assert.Null(list.RecordPermanentFailure("a@example.org", "421 4.7.0 Try again later"));
        Assert.Null(list.RecordPermanentFailure("a@example.org", "connection refused"));
        Assert.Null(list.RecordPermanentFailure("a@example.org", ""));
        Assert.Equal(0, list.FailureCount("a@example.org"));
        Assert.Equal(0, list.Count);

        // Threshold 1: every permanent failure suppresses, with the reply as the reason.
        var entry = list.RecordPermanentFailure("a@example.org", MailboxFull);
        Assert.Equal(MailboxFull, entry!.Reason);
        Assert.Equal(SuppressionSource.RepeatedFailures, entry.Source);
    }

    [Fact]
    public void The_threshold_is_configurable()
    {
        using var list = Open(threshold: 5);
        for (var i = 1; i < 5; i++)
        {
            Assert.Null(list.RecordPermanentFailure("f@example.org", MailboxFull));
            Assert.Equal(i, list.FailureCount("f@example.org"));
        }

        Assert.StartsWith("5 consecutive permanent failures", list.RecordPermanentFailure("f@example.org", MailboxFull)!.Reason, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => SuppressionList.Open(Path.Combine(_dir, "x.tsv"), threshold: 0));
    }

    [Fact]
    public void Addresses_compare_ignoring_ascii_case_only()
    {
        using var list = Open();
        Assert.True(list.Add("Bob.Smith@Example.NET", "typo"));
        Assert.True(list.TryGet("bob.smith@example.net", out var e));
        Assert.Equal("Bob.Smith@Example.NET", e.Address);
        Assert.True(list.TryGet("BOB.SMITH@EXAMPLE.NET", out _));
        Assert.False(list.Add("bob.smith@example.net", "again"));

        // Non-ASCII letters are not folded: SMTPUTF8 local parts are compared exactly.
        Assert.True(list.Add("jörg@example.de", ""));
        Assert.False(list.TryGet("JÖRG@example.de", out _));
        Assert.True(list.TryGet("JöRG@EXAMPLE.de", out _));
        Assert.False(list.TryGet("bob.smith@example.net.", out _));
        Assert.False(list.TryGet("bob.smith@example.ne", out _));
    }

    [Fact]
    public void Operator_add_and_remove()
    {
        using var list = Open();
        Assert.True(list.Add("g@example.org", "asked to be removed\tfrom the list\r\nline two"));
        Assert.True(list.TryGet("g@example.org", out var e));
        Assert.Equal(SuppressionSource.Operator, e.Source);
        Assert.Equal("asked to be removed\tfrom the list\r\nline two", e.Reason);
        Assert.True(list.Add("h@example.org", "  "));
        Assert.True(list.TryGet("h@example.org", out e));
        Assert.Equal("suppressed by the operator", e.Reason);

        Assert.True(list.Remove("G@example.org"));
        Assert.False(list.TryGet("g@example.org", out _));
        Assert.False(list.Remove("g@example.org"));
        Assert.Equal(1, list.Count);

        // Removing also forgets a failure count; mail is attempted as if new.
        list.RecordPermanentFailure("i@example.org", MailboxFull);
        list.RecordPermanentFailure("i@example.org", MailboxFull);
        Assert.False(list.Remove("i@example.org"));
        Assert.Equal(0, list.FailureCount("i@example.org"));

        Assert.Throws<ArgumentException>(() => list.Add("no-at-sign", "x"));
        Assert.Throws<ArgumentException>(() => list.Add("a b@example.org", "x"));
    }

    [Theory]
    [InlineData("bob@example.net", null)]
    [InlineData("\"quoted\"@example.net", null)]
    [InlineData("jörg@exämple.de", null)]
    [InlineData("user@[192.0.2.1]", null)]
    [InlineData("", "empty")]
    [InlineData("bob", "expected local-part@domain")]
    [InlineData("@example.net", "expected local-part@domain")]
    [InlineData("bob@", "expected local-part@domain")]
    [InlineData("bob @example.net", "white space")]
    [InlineData("bob@example.net\n", "control character")]
    [InlineData("bob\t@example.net", "control character")]
    [InlineData("bob\u00a0@example.net", "white space")]
    public void Addresses_are_checked(string address, string? problem)
    {
        var error = SuppressionList.CheckAddress(address);
        if (problem is null)
        {
            Assert.Null(error);
        }
        else
        {
            Assert.Contains(problem, error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Addresses_are_at_most_254_octets()
    {
        var domain = "@example.org";
        Assert.Null(SuppressionList.CheckAddress(new string('a', 254 - domain.Length) + domain));
        Assert.Contains("255 octets", SuppressionList.CheckAddress(new string('a', 255 - domain.Length) + domain), StringComparison.Ordinal);

        // Octets, not characters: 'ö' takes two.
        Assert.Contains("255 octets", SuppressionList.CheckAddress("ö" + new string('a', 253 - domain.Length) + domain), StringComparison.Ordinal);
    }

    [Fact]
    public void Everything_survives_a_reopen()
    {
        SuppressionEntry bounced, repeated, manual;
        using (var list = Open())
        {
            bounced = list.RecordPermanentFailure("bob@example.net", "550-5.1.1 line one\r\n550 5.1.1 line two with \\ and \t")!;
            list.RecordPermanentFailure("carol@example.org", MailboxFull);
            list.RecordPermanentFailure("carol@example.org", MailboxFull);
            _clock.Advance(TimeSpan.FromMinutes(5));
            repeated = list.RecordPermanentFailure("carol@example.org", MailboxFull)!;
            Assert.True(list.Add("Dave@Example.org", "the customer asked"));
            Assert.True(list.TryGet("dave@example.org", out var d));
            manual = d;
            list.Add("gone@example.org", "x");
            list.Remove("gone@example.org");
            list.RecordPermanentFailure("erin@example.org", MailboxFull);
            list.RecordPermanentFailure("frank@example.org", MailboxFull);
            list.RecordPermanentFailure("frank@example.org", MailboxFull);
            list.RecordPermanentFailure("grace@example.org", MailboxFull);
            list.RecordDelivered("grace@example.org");
        }

        using (var list = Open())
        {
            Assert.Equal(3, list.Count);
            Assert.True(list.TryGet("bob@example.net", out var e));
            Assert.Equal(bounced, e);
            Assert.True(list.TryGet("carol@example.org", out e));
            Assert.Equal(repeated, e);
            Assert.Equal(_clock.GetUtcNow(), e.Since);
            Assert.True(list.TryGet("dave@example.org", out e));
            Assert.Equal(manual, e);
            Assert.False(list.TryGet("gone@example.org", out _));
            Assert.Equal(1, list.FailureCount("erin@example.org"));
            Assert.Equal(2, list.FailureCount("frank@example.org"));
            Assert.Equal(0, list.FailureCount("grace@example.org"));
            Assert.Equal(2, list.TrackedFailures);
            Assert.Equal(0, list.DiscardedTornBytes);

            // The counts continue where they were.
            Assert.NotNull(list.RecordPermanentFailure("frank@example.org", MailboxFull));
        }
    }

    [Fact]
    public void The_journal_is_one_readable_line_per_change()
    {
        using (var list = Open())
        {
            list.RecordPermanentFailure("bob@example.net", "550-5.1.1 a\r\n550 5.1.1 b");
            list.RecordPermanentFailure("carol@example.org", MailboxFull);
            list.Add("a\\b@example.org", "why\there");
            list.Remove("bob@example.net");
            list.RecordDelivered("carol@example.org");
        }

        var lines = File.ReadAllLines(FilePath);
        Assert.Equal(
            [
                "tern-suppression\t1",
                "add\tbob@example.net\t2026-11-28T19:08:48.046Z\tbounce\t550-5.1.1 a\\r\\n550 5.1.1 b",
                "count\tcarol@example.org\t1",
                "add\ta\\\\b@example.org\t2026-11-28T19:08:48.046Z\toperator\twhy\\there",
                "remove\tbob@example.net",
                "count\tcarol@example.org\t0",
            ],
            lines);
    }

    [Fact]
    public void A_torn_last_line_is_dropped_not_fatal()
    {
        using (var list = Open())
        {
            list.Add("a@example.org", "one");
            list.Add("b@example.org", "two");
        }

        // A crash in the middle of writing the third line.
        var whole = File.ReadAllBytes(FilePath);
        const string Torn = "add\tc@example.org\t2026-11-28T19:08:48.046Z\topera";
        File.AppendAllText(FilePath, Torn);
        using (var list = Open())
        {
            Assert.Equal(2, list.Count);
            Assert.False(list.TryGet("c@example.org", out _));
            Assert.Equal(Torn.Length, list.DiscardedTornBytes);

            // The torn bytes are cut, so the next line starts clean.
            Assert.Equal(whole, File.ReadAllBytes(FilePath));
            list.Add("d@example.org", "four");
        }

        using (var list = Open())
        {
            Assert.Equal(3, list.Count);
            Assert.True(list.TryGet("d@example.org", out _));
            Assert.Equal(0, list.DiscardedTornBytes);
        }
    }

    [Fact]
    public void Trailing_zeros_after_a_crash_are_a_torn_line()
    {
        using (var list = Open())
        {
            list.Add("a@example.org", "one");
        }

        using (var file = new FileStream(FilePath, FileMode.Append))
        {
            file.Write(new byte[4096]);
        }

        using (var list = Open())
        {
            Assert.Equal(1, list.Count);
            Assert.Equal(4096, list.DiscardedTornBytes);
        }
    }

    [Fact]
    public void A_file_cut_short_while_it_was_created_starts_empty()
    {
        File.WriteAllText(FilePath, "tern-supp");
        using var list = Open();
        Assert.Equal(0, list.Count);
        Assert.Equal("tern-suppression\t1\n", File.ReadAllText(FilePath));
    }

    [Theory]
    [InlineData("something else\n", 1, "not a Tern suppression list")]
    [InlineData("not ours at all", 1, "not a Tern suppression list")]
    [InlineData("tern-suppression\t1\nadd\ta@example.org\t2026-11-28T19:08:48.046Z\tbounce\n", 2, "add: expected 5 tab-separated fields, found 4")]
    [InlineData("tern-suppression\t1\ncount\ta@example.org\t1\nfrobnicate\ta@example.org\n", 3, "unknown record \"frobnicate\"")]
    [InlineData("tern-suppression\t1\nadd\ta@example.org\tyesterday\tbounce\tx\n", 2, "bad time \"yesterday\"")]
    [InlineData("tern-suppression\t1\nadd\ta@example.org\t2026-11-28T19:08:48.046Z\tmartians\tx\n", 2, "unknown source \"martians\"")]
    [InlineData("tern-suppression\t1\nadd\ta@example.org\t2026-11-28T19:08:48.046Z\tbounce\tbad \\q escape\n", 2, "reason: unknown escape \\q")]
    [InlineData("tern-suppression\t1\ncount\ta@example.org\t-1\n", 2, "bad count \"-1\"")]
    [InlineData("tern-suppression\t1\nremove\t\n", 2, "empty address")]
    [InlineData("tern-suppression\t1\nremove\ta@example.org\textra\n", 2, "remove: expected 2 tab-separated fields, found 3")]
    [InlineData("tern-suppression\t1\n\ncount\ta@example.org\t1\n", 2, "unknown record \"\"")]
    public void A_corrupt_file_is_refused_naming_the_file_and_line(string content, int line, string problem)
    {
        File.WriteAllText(FilePath, content);
        var e = Assert.Throws<SuppressionStoreException>(() => Open());
        Assert.Contains($"{FilePath}:{line}: {problem}", e.Message, StringComparison.Ordinal);
        Assert.Contains("move the file away", e.Message, StringComparison.Ordinal);

        // Nothing was changed: the operator sees the file as it was.
        Assert.Equal(content, File.ReadAllText(FilePath));
    }

    [Fact]
    public void Bad_utf8_is_corrupt()
    {
        File.WriteAllBytes(FilePath, [.. "tern-suppression\t1\nremove\ta"u8, 0xff, (byte)'\n']);
        var e = Assert.Throws<SuppressionStoreException>(() => Open());
        Assert.Contains($"{FilePath}:2: not UTF-8", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unreadable_file_is_a_clear_error()
    {
        var e = Assert.Throws<SuppressionStoreException>(() => SuppressionList.Open(Path.Combine(_dir, "missing", "suppression.tsv")));
        Assert.Contains(Path.Combine(_dir, "missing", "suppression.tsv"), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_journal_is_compacted_when_it_doubles_its_live_size()
    {
        using (var list = Open())
        {
            list.CompactionMinBytes = 4096;
            list.Add("keep@example.org", "kept");
            for (var i = 0; i < 500; i++)
            {
                // Each pair of lines leaves nothing live behind.
                list.Add($"churn{i}@example.org", "temporary");
                list.Remove($"churn{i}@example.org");
                Assert.True(list.JournalBytes <= Math.Max(4096, 2 * 200) + 200, $"journal at {list.JournalBytes} bytes after {i}");
            }

            list.RecordPermanentFailure("counted@example.org", MailboxFull);
            Assert.True(list.Compactions > 0);
            Assert.False(File.Exists(FilePath + ".tmp"));
        }

        var lines = File.ReadAllLines(FilePath);
        Assert.Equal("tern-suppression\t1", lines[0]);
        Assert.True(lines.Length < 100, $"{lines.Length} lines");
        using (var list = Open())
        {
            Assert.Equal(1, list.Count);
            Assert.True(list.TryGet("keep@example.org", out var e));
            Assert.Equal("kept", e.Reason);
            Assert.Equal(1, list.FailureCount("counted@example.org"));
        }
    }

    [Fact]
    public void Compaction_keeps_entries_counts_and_the_order_of_counts()
    {
        using (var list = Open(maxTracked: 3))
        {
            list.Add("x@example.org", "reason with\nnewline");
            list.RecordPermanentFailure("c1@example.org", MailboxFull);
            list.RecordPermanentFailure("c2@example.org", MailboxFull);
            list.RecordPermanentFailure("c3@example.org", MailboxFull);
            list.RecordPermanentFailure("c1@example.org", MailboxFull); // c1 is now the most recent
            list.Compact();
            Assert.Equal(1, list.Compactions);
        }

        using (var list = Open(maxTracked: 3))
        {
            Assert.True(list.TryGet("x@example.org", out var e));
            Assert.Equal("reason with\nnewline", e.Reason);
            Assert.Equal(2, list.FailureCount("c1@example.org"));

            // A fourth address pushes out the one that failed longest ago: c2.
            list.RecordPermanentFailure("c4@example.org", MailboxFull);
            Assert.Equal(0, list.FailureCount("c2@example.org"));
            Assert.Equal(1, list.FailureCount("c3@example.org"));
            Assert.Equal(3, list.TrackedFailures);
        }
    }

    [Fact]
    public void Failure_counts_are_bounded()
    {
        using (var list = Open(maxTracked: 100))
        {
            for (var i = 0; i < 1000; i++)
            {
                list.RecordPermanentFailure($"u{i}@example.org", MailboxFull);
            }

            Assert.Equal(100, list.TrackedFailures);
            Assert.Equal(0, list.FailureCount("u0@example.org"));
            Assert.Equal(0, list.FailureCount("u899@example.org"));
            Assert.Equal(1, list.FailureCount("u900@example.org"));
            Assert.Equal(1, list.FailureCount("u999@example.org"));
        }

        // The same bound applies on replay, with the same survivors.
        using (var list = Open(maxTracked: 100))
        {
            Assert.Equal(100, list.TrackedFailures);
            Assert.Equal(1, list.FailureCount("u900@example.org"));
            Assert.Equal(0, list.FailureCount("u899@example.org"));
        }
    }

    [Fact]
    public void Long_reasons_are_cut()
    {
        using var list = Open();
        var reply = "550 5.1.1 " + new string('x', 10_000);
        var entry = list.RecordPermanentFailure("long@example.org", reply)!;
        Assert.Equal(SuppressionList.MaxReasonLength, entry.Reason.Length);
        Assert.EndsWith("...", entry.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Pages_in_address_order_with_a_filter_and_a_cursor()
    {
        using var list = Open();
        foreach (var a in new[] { "d@b.example", "A@c.example", "b@a.example", "c@a.example", "E@a.example" })
        {
            list.Add(a, "x");
        }

        Assert.Equal(["A@c.example", "b@a.example", "c@a.example", "d@b.example", "E@a.example"], list.List().Select(e => e.Address));

        var first = list.Page(limit: 2);
        Assert.Equal(["A@c.example", "b@a.example"], first.Entries.Select(e => e.Address));
        Assert.Equal(5, first.Total);
        Assert.Equal("b@a.example", first.Next);
        var second = list.Page(limit: 2, after: first.Next);
        Assert.Equal(["c@a.example", "d@b.example"], second.Entries.Select(e => e.Address));
        var third = list.Page(limit: 2, after: second.Next);
        Assert.Equal(["E@a.example"], third.Entries.Select(e => e.Address));
        Assert.Null(third.Next);

        // Exactly a page left: no next page.
        Assert.Null(list.Page(limit: 3, after: first.Next).Next);

        var filtered = list.Page(contains: "@A.EXAMPLE", limit: 2);
        Assert.Equal(["b@a.example", "c@a.example"], filtered.Entries.Select(e => e.Address));
        Assert.Equal(3, filtered.Total);
        Assert.Equal("c@a.example", filtered.Next);
        Assert.Equal(["E@a.example"], list.List("a.example", 10, "c@a.example").Select(e => e.Address));

        // The cursor need not be on the list (it may have been removed meanwhile); case is ignored.
        Assert.Equal(["c@a.example", "d@b.example", "E@a.example"], list.List(after: "BB@a.example").Select(e => e.Address));
        list.Remove("c@a.example");
        Assert.Equal(["d@b.example", "E@a.example"], list.List(after: "b@a.example").Select(e => e.Address));

        Assert.Throws<ArgumentOutOfRangeException>(() => list.List(limit: 0));
    }

    [Fact]
    public async Task Concurrent_readers_and_writers()
    {
        using (var list = Open())
        {
            list.CompactionMinBytes = 16 * 1024;
            const int Writers = 8;
            const int PerWriter = 200;
            var stop = false;
            var readerErrors = 0L;
            var readers = Enumerable.Range(0, 2).Select(r => Task.Factory.StartNew(() =>
            {
                while (!Volatile.Read(ref stop))
                {
                    for (var i = 0; i < 50; i++)
                    {
                        if (list.TryGet($"w0-{i}@example.org", out var e) && e.Address.Length == 0)
                        {
                            Interlocked.Increment(ref readerErrors);
                        }
                    }

                    _ = list.Count;
                    _ = list.List(limit: 10);
                }
            }, TaskCreationOptions.LongRunning)).ToArray();

            var writers = Enumerable.Range(0, Writers).Select(w => Task.Factory.StartNew(() =>
            {
                for (var i = 0; i < PerWriter; i++)
                {
                    var address = $"w{w}-{i}@example.org";
                    switch (i % 4)
                    {
                        case 0:
                            Assert.NotNull(list.RecordPermanentFailure(address, NoSuchUser));
                            break;
                        case 1:
                            Assert.True(list.Add(address, "operator"));
                            break;
                        case 2:
                            for (var j = 0; j < 4; j++)
                            {
                                Assert.True(list.Add(address, "to remove"));
                                Assert.True(list.Remove(address));
                            }

                            break;
                        default:
                            Assert.Null(list.RecordPermanentFailure(address, MailboxFull));
                            list.RecordDelivered(address);
                            Assert.Null(list.RecordPermanentFailure(address, MailboxFull));
                            break;
                    }
                }
            }, TaskCreationOptions.LongRunning)).ToArray();

            await Task.WhenAll(writers);
            Volatile.Write(ref stop, true);
            await Task.WhenAll(readers);
            Assert.Equal(0, readerErrors);
            Assert.Equal(Writers * PerWriter / 2, list.Count);
            Assert.Equal(Writers * PerWriter / 4, list.TrackedFailures);
            Assert.True(list.Compactions > 0, "the churn should have compacted the journal");
        }

        using (var list = Open())
        {
            Assert.Equal(8 * 200 / 2, list.Count);
            Assert.Equal(8 * 200 / 4, list.TrackedFailures);
            Assert.True(list.TryGet("w7-196@example.org", out var e));
            Assert.Equal(SuppressionSource.Bounce, e.Source);
            Assert.True(list.TryGet("w7-197@example.org", out e));
            Assert.Equal(SuppressionSource.Operator, e.Source);
            Assert.False(list.TryGet("w7-198@example.org", out _));
            Assert.Equal(1, list.FailureCount("w7-199@example.org"));
            Assert.Equal(list.Count, list.Page(limit: 100_000).Entries.Count);
        }
    }

    [Fact]
    public void Lookups_allocate_nothing()
    {
        using var list = Open();
        list.Add("bob@example.net", "x");
        var hit = "BOB@example.net";
        var miss = "alice@example.net";
        list.TryGet(hit, out _);
        list.TryGet(miss, out _);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var found = 0;
        for (var i = 0; i < 1000; i++)
        {
            found += list.TryGet(hit, out _) ? 1 : 0;
            found += list.TryGet(miss, out _) ? 1 : 0;
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(1000, found);
    }

    [Fact]
    public void Changes_after_dispose_throw_lookups_still_work()
    {
        var list = Open();
        list.Add("a@example.org", "x");
        list.Dispose();
        list.Dispose();
        Assert.True(list.TryGet("a@example.org", out _));
        Assert.Throws<ObjectDisposedException>(() => list.Add("b@example.org", "x"));
    }

    [Fact]
    public void Escaping_round_trips_every_control_character()
    {
        var reason = new StringBuilder();
        for (var c = 0; c < 0x80; c++)
        {
            reason.Append((char)c);
        }

        reason.Append("\\x4\\\\ é 😀");
        using (var list = Open())
        {
            list.Add("esc@example.org", "z" + reason);
        }

        Assert.Equal(2, File.ReadAllLines(FilePath).Length);
        using (var list = Open())
        {
            Assert.True(list.TryGet("esc@example.org", out var e));
            Assert.Equal("z" + reason, e.Reason);
        }
    }
}
