using System.Text;
using Tern.Load.Sink;

namespace Tern.Load.Tests;

/// <summary>The sink's streaming scanners: the DATA terminator and the Message-ID, split at every byte.</summary>
public sealed class SinkScannerTests
{
    [Theory]
    [InlineData("Subject: x\r\n\r\nbody\r\n.\r\n", 23)]
    [InlineData(".\r\n", 3)]
    [InlineData("a\r\n..\r\nb\r\n.\r\nMAIL FROM:<a@b>\r\n", 13)]
    [InlineData("x\r\n.x\r\n.\r\n\r\n.\r\n", 10)]
    [InlineData("\r\n.\r\n", 5)]
    public void Terminator_is_found_at_every_split(string input, int end)
    {
        var bytes = Encoding.ASCII.GetBytes(input);
        for (var split1 = 0; split1 <= bytes.Length; split1++)
        {
            for (var split2 = split1; split2 <= bytes.Length; split2++)
            {
                var scanner = default(DataTerminatorScanner);
                scanner.Reset();
                var found = -1;
                var offset = 0;
                foreach (var (from, to) in new[] { (0, split1), (split1, split2), (split2, bytes.Length) })
                {
                    var r = scanner.Scan(bytes.AsSpan(from, to - from));
                    if (r >= 0)
                    {
                        found = from + r;
                        break;
                    }

                    offset = to;
                }

                Assert.True(found == end, $"splits {split1},{split2}: found {found}, expected {end} (scanned to {offset})");
            }
        }
    }

    [Theory]
    [InlineData("a\r\n.x\r\n")]
    [InlineData("a\n.\nb")]
    [InlineData("a\r\n..\r\n")]
    public void No_terminator_in_content(string input)
    {
        var scanner = default(DataTerminatorScanner);
        scanner.Reset();
        foreach (var b in Encoding.ASCII.GetBytes(input))
        {
            Assert.Equal(-1, scanner.Scan([b]));
        }
    }

    [Theory]
    [InlineData("Message-ID: <a.1@tern-load.test>\r\nSubject: x\r\n\r\nbody\r\n", "a.1@tern-load.test")]
    [InlineData("From: a@b\r\nmessage-id:\r\n  <folded.2@tern-load.test>\r\nSubject: x\r\n\r\n", "folded.2@tern-load.test")]
    [InlineData("MESSAGE-ID: <up.3@x>\r\n\r\n", "up.3@x")]
    [InlineData("Message-Id: bare-id \r\n\r\n", "bare-id")]
    [InlineData("Subject: x\r\n\r\nMessage-ID: <in-body@x>\r\n", "")]
    [InlineData("Subject: x\r\nMessage-ID: <last@x>", "last@x")]
    [InlineData("Message-ID: <first@x>\r\nMessage-ID: <second@x>\r\n\r\n", "first@x")]
    [InlineData("X-Message-ID: <not@x>\r\n\r\n", "")]
    public void Message_id_is_taken_from_the_header_at_every_split(string message, string id)
    {
        var bytes = Encoding.ASCII.GetBytes(message);
        var scanner = new MessageIdScanner();
        for (var split = 0; split <= bytes.Length; split++)
        {
            scanner.Reset();
            scanner.Feed(bytes.AsSpan(0, split));
            scanner.Feed(bytes.AsSpan(split));
            scanner.Finish();
            Assert.Equal(id, Encoding.ASCII.GetString(scanner.Id));
        }

        // Byte by byte, too.
        scanner.Reset();
        foreach (var b in bytes)
        {
            scanner.Feed([b]);
        }

        scanner.Finish();
        Assert.Equal(id, Encoding.ASCII.GetString(scanner.Id));
    }
}
