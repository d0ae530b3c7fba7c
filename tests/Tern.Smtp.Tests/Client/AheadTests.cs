using System.Text;
using Tern.Smtp.Client;
using Tern.Smtp.Protocol;
using static Tern.Smtp.Tests.Client.ClientTest;

namespace Tern.Smtp.Tests.Client;

/// <summary>
/// The next message's envelope sent with this one's end of data (RFC 2920 section 3.1): scripted servers
/// that hold back the reply to "." until the next MAIL, RCPT and DATA have arrived, so a client that
/// waited for that reply first would stall here until its timeout.
/// </summary>
public sealed class AheadTests
{
    private static SmtpMessage Numbered(int n, params string[] recipients) =>
        Message(recipients) with { Content = Encoding.ASCII.GetBytes($"Subject: {n}\r\n\r\nmessage {n}\r\n") };

    /// <summary>MAIL, RCPT... and DATA of one envelope, in order.</summary>
    private static async Task ExpectEnvelopeAsync(ScriptConnection c, params string[] recipients)
    {
        Assert.Equal("MAIL FROM:<alice@example.org>", await c.ExpectAsync("MAIL "));
        foreach (var r in recipients)
        {
            Assert.Equal($"RCPT TO:<{r}>", await c.ExpectAsync("RCPT "));
        }

        await c.ExpectAsync("DATA");
    }

    /// <summary>Message 1 to a@ with its content, then message 2's envelope (to b@) before any reply to the content.</summary>
    private static async Task FirstWithSecondAheadAsync(ScriptConnection c)
    {
        await GreetAsync(c);
        await ExpectEnvelopeAsync(c, "a@example.net");
        await c.SendAsync("250 ok", "250 ok", "354 go");
        await c.ReadDataAsync();
        await ExpectEnvelopeAsync(c, "b@example.net");
    }

    [Fact]
    public async Task Three_messages_take_one_round_trip_each_after_the_first()
    {
        var bodies = new List<string>();
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c);
            await ExpectEnvelopeAsync(c, "a@example.net");
            await c.SendAsync("250 2.1.0 ok", "250 2.1.5 ok", "354 go");
            bodies.Add(Encoding.ASCII.GetString(await c.ReadDataAsync()));

            // Nothing is answered before the next envelope is here: it came with the end of data.
            await ExpectEnvelopeAsync(c, "b@example.net", "c@example.net");
            await c.SendAsync("250 2.0.0 first queued", "250 2.1.0 ok", "250 2.1.5 ok", "250 2.1.5 ok", "354 go");
            bodies.Add(Encoding.ASCII.GetString(await c.ReadDataAsync()));
            await ExpectEnvelopeAsync(c, "d@example.net");
            await c.SendAsync("250 2.0.0 second queued", "250 2.1.0 ok", "250 2.1.5 ok", "354 go");
            bodies.Add(Encoding.ASCII.GetString(await c.ReadDataAsync()));
            await c.SendAsync("250 2.0.0 third queued");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 2.0.0 bye");
        });

        await using var session = await OpenAsync(server);
        var (one, two, three) = (Numbered(1, "a@example.net"), Numbered(2, "b@example.net", "c@example.net"), Numbered(3, "d@example.net"));
        var first = await session.SendAsync(one, two, maxTransactions: 0);
        var second = await session.SendAsync(two, three, maxTransactions: 0);
        var third = await session.SendAsync(three, next: null, maxTransactions: 0);
        await session.QuitAsync();
        await server.FinishAsync();

        Assert.True(first.NextSentAhead);
        Assert.True(second.NextSentAhead);
        Assert.False(third.NextSentAhead);
        Assert.Equal("250 2.0.0 first queued", Assert.Single(first.Recipients).Reply.ToString());
        Assert.All(second.Recipients, r => Assert.Equal("250 2.0.0 second queued", r.Reply.ToString()));
        Assert.Equal("250 2.0.0 third queued", Assert.Single(third.Recipients).Reply.ToString());
        Assert.Equal(["Subject: 1\r\n\r\nmessage 1\r\n", "Subject: 2\r\n\r\nmessage 2\r\n", "Subject: 3\r\n\r\nmessage 3\r\n"], bodies);
        Assert.Equal(3, session.Transactions);
    }

    [Fact]
    public async Task A_refused_message_and_a_refused_next_sender_keep_the_connection_in_step()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await FirstWithSecondAheadAsync(c);

            // The content refused, then the next sender: RFC 2920 says every reply of the group counts.
            await c.SendAsync("554 5.7.1 content rejected", "550 5.7.1 sender refused", "503 5.5.1 need MAIL first", "503 5.5.1 no valid recipients");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = await OpenAsync(server);
        var (one, two) = (Numbered(1, "a@example.net"), Numbered(2, "b@example.net"));
        var first = await session.SendAsync(one, two, maxTransactions: 0);
        var second = await session.SendAsync(two, next: null, maxTransactions: 0);
        Assert.True(session.CanSend);
        await session.QuitAsync();
        await server.FinishAsync();

        Assert.True(first.NextSentAhead);
        var r1 = Assert.Single(first.Recipients);
        Assert.Equal((SmtpOutcome.PermanentFailure, SmtpStage.DataEnd, "554 5.7.1 content rejected"), (r1.Outcome, r1.Stage, r1.Reply.ToString()));
        var r2 = Assert.Single(second.Recipients);
        Assert.Equal((SmtpOutcome.PermanentFailure, SmtpStage.Mail, "550 5.7.1 sender refused"), (r2.Outcome, r2.Stage, r2.Reply.ToString()));
    }

    [Fact]
    public async Task A_closing_reply_to_the_data_sends_nothing_more_and_the_next_stays_with_the_caller()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await FirstWithSecondAheadAsync(c);
            await c.SendAsync("421 4.3.2 shutting down");
            c.Close();
        });

        await using var session = await OpenAsync(server);
        var first = await session.SendAsync(Numbered(1, "a@example.net"), Numbered(2, "b@example.net"), maxTransactions: 0);
        await server.FinishAsync();

        // Nothing on this connection carries the next message any more: the caller sends it on another.
        Assert.False(first.NextSentAhead);
        Assert.False(session.CanSend);
        var r1 = Assert.Single(first.Recipients);
        Assert.Equal((SmtpOutcome.TemporaryFailure, "421 4.3.2 shutting down"), (r1.Outcome, r1.Reply.ToString()));
    }

    [Fact]
    public async Task Another_message_or_quit_after_an_envelope_went_ahead_drops_the_connection()
    {
        for (var quit = 0; quit < 2; quit++)
        {
            await using var server = ScriptedServer.Start(async c =>
            {
                await FirstWithSecondAheadAsync(c);
                await c.SendAsync("250 first queued", "250 ok", "250 ok", "354 go");

                // Neither a third MAIL nor QUIT: the server waits for the second message's content.
                await c.ExpectEndAsync();
            });

            await using var session = await OpenAsync(server);
            var first = await session.SendAsync(Numbered(1, "a@example.net"), Numbered(2, "b@example.net"), maxTransactions: 0);
            Assert.True(first.NextSentAhead);
            if (quit == 1)
            {
                await session.QuitAsync();
            }
            else
            {
                var other = await session.SendAsync(Numbered(3, "c@example.net"));
                var r = Assert.Single(other.Recipients);
                Assert.Equal((SmtpOutcome.TemporaryFailure, SmtpFailureKind.ConnectionLost), (r.Outcome, r.Kind));
                Assert.False(session.CanSend);
                await session.QuitAsync();
            }

            await server.FinishAsync();
        }
    }

    [Fact]
    public async Task Nothing_goes_ahead_past_the_transaction_limit_or_a_recipient_split_or_without_pipelining()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c);

            // 1: the caller's limit of two transactions is reached with the next one.
            await ExpectEnvelopeAsync(c, "a@example.net");
            await c.SendAsync("250 ok", "250 ok", "354 go");
            await c.ReadDataAsync();
            await c.SendAsync("250 first queued");

            // 2: the next message would need two transactions (two recipients, one per transaction).
            await ExpectEnvelopeAsync(c, "b@example.net");
            await c.SendAsync("250 ok", "250 ok", "354 go");
            await c.ReadDataAsync();
            await c.SendAsync("250 second queued");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = await OpenAsync(server, Options() with { MaxRecipientsPerTransaction = 1 });
        var limited = await session.SendAsync(Numbered(1, "a@example.net"), Numbered(2, "b@example.net"), maxTransactions: 1);
        var split = await session.SendAsync(Numbered(2, "b@example.net"), Numbered(3, "c@example.net", "d@example.net"), maxTransactions: 0);
        await session.QuitAsync();
        await server.FinishAsync();
        Assert.False(limited.NextSentAhead);
        Assert.False(split.NextSentAhead);
        Assert.Equal("250 second queued", Assert.Single(split.Recipients).Reply.ToString());

        await using var lockStep = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c, "250-mx.test\r\n250 8BITMIME");
            await c.ExpectAsync("MAIL ");
            await c.SendAsync("250 ok");
            await c.ExpectAsync("RCPT ");
            await c.SendAsync("250 ok");
            await c.ExpectAsync("DATA");
            await c.SendAsync("354 go");
            await c.ReadDataAsync();
            await c.SendAsync("250 queued");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });
        await using var plain = await OpenAsync(lockStep);
        var alone = await plain.SendAsync(Numbered(1, "a@example.net"), Numbered(2, "b@example.net"), maxTransactions: 0);
        await plain.QuitAsync();
        await lockStep.FinishAsync();
        Assert.False(alone.NextSentAhead);
        Assert.Equal(SmtpOutcome.Delivered, Assert.Single(alone.Recipients).Outcome);
    }
}
