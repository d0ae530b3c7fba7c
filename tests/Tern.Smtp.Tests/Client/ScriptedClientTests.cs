using System.Security.Authentication;
using System.Text;
using Tern.Smtp.Client;
using Tern.Smtp.Protocol;
using static Tern.Smtp.Tests.Client.ClientTest;

namespace Tern.Smtp.Tests.Client;

/// <summary>The client against scripted servers: exact conversations and the edge cases real servers produce only sometimes.</summary>
public sealed class ScriptedClientTests
{
    [Fact]
    public async Task Lock_step_conversation_without_pipelining()
    {
        byte[] data = [];
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c, "250-mx.test\r\n250 SIZE 1000");
            Assert.Equal("MAIL FROM:<alice@example.org> SIZE=25", await c.ExpectAsync("MAIL "));
            await c.SendAsync("250 ok");
            await c.ExpectAsync("RCPT TO:<bob@example.net>");
            await c.SendAsync("250 ok");
            await c.ExpectAsync("RCPT TO:<carol@example.net>");
            await c.SendAsync("550 no such user");
            await c.ExpectAsync("DATA");
            await c.SendAsync("354 go ahead");
            data = await c.ReadDataAsync();
            await c.SendAsync("250 queued as X");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
            await c.ExpectEndAsync();
        });

        await using var session = await OpenAsync(server);
        Assert.True(session.Info.Esmtp);
        Assert.False(session.Info.Extensions.Pipelining);
        var message = Message("bob@example.net", "carol@example.net") with { Content = Encoding.ASCII.GetBytes("Subject: x\r\n\r\n.dot\r\nend\r\n") };
        var result = await session.SendAsync(message);
        await session.QuitAsync();
        await server.FinishAsync();

        Assert.Equal("Subject: x\r\n\r\n..dot\r\nend\r\n", Encoding.ASCII.GetString(data));
        Assert.Equal(SmtpOutcome.Delivered, result.Recipients[0].Outcome);
        Assert.Equal(SmtpStage.DataEnd, result.Recipients[0].Stage);
        Assert.Equal("250 queued as X", result.Recipients[0].Reply.ToString());
        Assert.Equal(SmtpOutcome.PermanentFailure, result.Recipients[1].Outcome);
        Assert.Equal(SmtpStage.Rcpt, result.Recipients[1].Stage);
        Assert.Equal(550, result.Recipients[1].Reply.Code);
        Assert.Null(result.Failure);
        Assert.Equal(1, result.Transactions);
    }

    [Fact]
    public async Task Pipelined_group_is_sent_before_any_reply()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c);
            await c.ExpectAsync("MAIL FROM:<alice@example.org>");
            await c.ExpectAsync("RCPT TO:<bob@example.net>");
            await c.ExpectAsync("RCPT TO:<carol@example.net>");
            await c.ExpectAsync("DATA");
            await c.SendAsync("250 2.1.0 ok", "250 2.1.5 ok", "250 2.1.5 ok", "354 go");
            await c.ReadDataAsync();
            await c.SendAsync("250 2.0.0 queued");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 2.0.0 bye");
        });

        await using var session = await OpenAsync(server);
        var result = await session.SendAsync(Message("bob@example.net", "carol@example.net"));
        await session.QuitAsync();
        await server.FinishAsync();
        Assert.All(result.Recipients, r => Assert.Equal(SmtpOutcome.Delivered, r.Outcome));
        Assert.Equal(new EnhancedStatusCode(2, 0, 0), result.Recipients[1].Reply.EnhancedCode);
    }

    /// <summary>Edge (a): the Outlook behaviour for blocklisted senders.</summary>
    [Fact]
    public async Task Mail_refused_and_connection_closed_gives_the_permanent_refusal_pipelined()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c);
            await c.ExpectAsync("MAIL ");
            await c.ExpectAsync("RCPT ");
            await c.ExpectAsync("DATA");
            await c.SendAsync("550-5.7.1 Service unavailable, Client host [192.0.2.1] blocked", "550 5.7.1 using Spamhaus; see https://example.net");
            c.Close();
        });

        await using var session = await OpenAsync(server);
        var result = await session.SendAsync(Message("bob@example.net"));
        await server.FinishAsync();
        var r = Assert.Single(result.Recipients);
        Assert.Equal(SmtpOutcome.PermanentFailure, r.Outcome);
        Assert.Equal(SmtpStage.Mail, r.Stage);
        Assert.Equal(SmtpFailureKind.Reply, r.Kind);
        Assert.Equal(2, r.Reply.Lines.Count);
        Assert.Equal("5.7.1 using Spamhaus; see https://example.net", r.Reply.Lines[1]);
        Assert.Equal(SmtpStage.Mail, result.Failure!.Stage);
        Assert.False(session.CanSend);
    }

    [Fact]
    public async Task Mail_refused_and_connection_closed_gives_the_permanent_refusal_lock_step()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c, "250 mx.test");
            await c.ExpectAsync("MAIL ");
            await c.SendAsync("550 5.7.1 go away");
            c.Close();
        });

        await using var session = await OpenAsync(server);
        var result = await session.SendAsync(Message("bob@example.net", "carol@example.net"));
        await server.FinishAsync();
        Assert.All(result.Recipients, r =>
        {
            Assert.Equal(SmtpOutcome.PermanentFailure, r.Outcome);
            Assert.Equal("550 5.7.1 go away", r.Reply.ToString());
        });

        // The next transaction finds the connection gone (RSET fails): a temporary failure.
        var again = await session.SendAsync(Message("dave@example.net"));
        Assert.Equal(SmtpOutcome.TemporaryFailure, again.Recipients[0].Outcome);
        Assert.False(session.CanSend);
    }

    /// <summary>Edge (b).</summary>
    [Fact]
    public async Task All_rcpts_refused_and_close_before_data_reply_gives_the_last_rcpt_reply()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c);
            await c.ExpectAsync("MAIL ");
            await c.ExpectAsync("RCPT ");
            await c.ExpectAsync("RCPT ");
            await c.ExpectAsync("DATA");
            await c.SendAsync("250 2.1.0 ok", "550 5.1.1 bob unknown", "550-5.7.1 listed", "550 5.7.1 at example.net");
            c.Close();
        });

        await using var session = await OpenAsync(server);
        var result = await session.SendAsync(Message("bob@example.net", "carol@example.net"));
        await server.FinishAsync();
        Assert.Equal("550 5.1.1 bob unknown", result.Recipients[0].Reply.ToString());
        Assert.Equal(SmtpOutcome.PermanentFailure, result.Recipients[1].Outcome);
        Assert.Equal(2, result.Recipients[1].Reply.Lines.Count);
        Assert.Equal(SmtpStage.Rcpt, result.Failure!.Stage);
        Assert.Equal(SmtpFailureKind.Reply, result.Failure.Kind);
        Assert.Equal("550-5.7.1 listed\r\n550 5.7.1 at example.net", result.Failure.Reply.ToString());
        Assert.False(session.CanSend);
    }

    /// <summary>Edge (c), then RSET and a second transaction on the same connection.</summary>
    [Fact]
    public async Task No_rcpt_accepted_but_354_sends_a_lone_dot_and_stays_usable()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c);
            await c.ExpectAsync("MAIL ");
            await c.ExpectAsync("RCPT ");
            await c.ExpectAsync("DATA");
            await c.SendAsync("250 ok", "550 5.1.1 unknown", "354 go ahead anyway");
            Assert.Equal(".", await c.ReadLineAsync());
            await c.SendAsync("554 5.5.1 no valid recipients");
            await c.ExpectAsync("RSET");
            await c.SendAsync("250 2.0.0 reset");
            await c.ExpectAsync("MAIL ");
            await c.ExpectAsync("RCPT TO:<dave@example.net>");
            await c.ExpectAsync("DATA");
            await c.SendAsync("250 ok", "250 ok", "354 go");
            await c.ReadDataAsync();
            await c.SendAsync("250 2.0.0 queued");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = await OpenAsync(server);
        var result = await session.SendAsync(Message("bob@example.net"));
        Assert.Equal(SmtpOutcome.PermanentFailure, result.Recipients[0].Outcome);
        Assert.Equal("550 5.1.1 unknown", result.Failure!.Reply.ToString());
        Assert.True(session.CanSend);
        var second = await session.SendAsync(Message("dave@example.net"));
        Assert.Equal(SmtpOutcome.Delivered, second.Recipients[0].Outcome);
        await session.QuitAsync();
        await server.FinishAsync();
    }

    /// <summary>Edge (d), pipelined: 452 after accepted recipients, then a new transaction for the rest.</summary>
    [Fact]
    public async Task Rcpt_452_after_accepted_ones_moves_the_rest_to_a_new_transaction()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c);
            await c.ExpectAsync("MAIL ");
            await c.ExpectAsync("RCPT TO:<r1@");
            await c.ExpectAsync("RCPT TO:<r2@");
            await c.ExpectAsync("RCPT TO:<r3@");
            await c.ExpectAsync("RCPT TO:<r4@");
            await c.ExpectAsync("DATA");
            await c.SendAsync("250 ok", "250 ok", "250 ok", "452 4.5.3 too many recipients", "552 5.5.3 too many recipients", "354 go");
            await c.ReadDataAsync();
            await c.SendAsync("250 2.0.0 first");

            // The transaction ended with the data's reply: no RSET needed.
            await c.ExpectAsync("MAIL ");
            await c.ExpectAsync("RCPT TO:<r3@");
            await c.ExpectAsync("RCPT TO:<r4@");
            await c.ExpectAsync("DATA");
            await c.SendAsync("250 ok", "250 ok", "250 ok", "354 go");
            await c.ReadDataAsync();
            await c.SendAsync("250 2.0.0 second");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = await OpenAsync(server);
        var result = await session.SendAsync(Message("r1@example.net", "r2@example.net", "r3@example.net", "r4@example.net"));
        await session.QuitAsync();
        await server.FinishAsync();
        Assert.Equal(2, result.Transactions);
        Assert.All(result.Recipients, r => Assert.Equal(SmtpOutcome.Delivered, r.Outcome));
        Assert.Equal("250 2.0.0 first", result.Recipients[1].Reply.ToString());
        Assert.Equal("250 2.0.0 second", result.Recipients[3].Reply.ToString());
    }

    [Fact]
    public async Task Rcpt_552_lock_step_stops_asking_and_452_on_the_first_rcpt_is_a_temporary_failure()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c, "250 mx.test");
            await c.ExpectAsync("MAIL ");
            await c.SendAsync("250 ok");
            await c.ExpectAsync("RCPT TO:<r1@");
            await c.SendAsync("250 ok");
            await c.ExpectAsync("RCPT TO:<r2@");
            await c.SendAsync("552 too many recipients");

            // r3 is not asked in this transaction.
            await c.ExpectAsync("DATA");
            await c.SendAsync("354 go");
            await c.ReadDataAsync();
            await c.SendAsync("250 first");
            await c.ExpectAsync("MAIL ");
            await c.SendAsync("250 ok");
            await c.ExpectAsync("RCPT TO:<r2@");
            await c.SendAsync("452 4.2.2 mailbox full");
            await c.ExpectAsync("RCPT TO:<r3@");
            await c.SendAsync("250 ok");
            await c.ExpectAsync("DATA");
            await c.SendAsync("354 go");
            await c.ReadDataAsync();
            await c.SendAsync("250 second");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = await OpenAsync(server);
        var result = await session.SendAsync(Message("r1@example.net", "r2@example.net", "r3@example.net"));
        await session.QuitAsync();
        await server.FinishAsync();
        Assert.Equal(SmtpOutcome.Delivered, result.Recipients[0].Outcome);
        Assert.Equal(SmtpOutcome.TemporaryFailure, result.Recipients[1].Outcome);
        Assert.Equal("452 4.2.2 mailbox full", result.Recipients[1].Reply.ToString());
        Assert.Equal(SmtpOutcome.Delivered, result.Recipients[2].Outcome);
        Assert.Equal("250 second", result.Recipients[2].Reply.ToString());
    }

    [Fact]
    public async Task Rcptmax_and_the_configured_maximum_split_transactions()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c, EhloPipelining.Replace("250 ENHANCED", "250-LIMITS RCPTMAX=3 MAILMAX=10\r\n250 ENHANCED", StringComparison.Ordinal));
            foreach (var group in new[] { new[] { 1, 2 }, [3, 4], [5] })
            {
                await c.ExpectAsync("MAIL ");
                foreach (var i in group)
                {
                    await c.ExpectAsync($"RCPT TO:<r{i}@");
                }

                await c.ExpectAsync("DATA");
                await c.SendRawAsync(string.Concat(Enumerable.Repeat("250 ok\r\n", group.Length + 1)) + "354 go\r\n");
                await c.ReadDataAsync();
                await c.SendAsync("250 done");
            }

            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        // The server's RCPTMAX=3 and the configured 2: the smaller wins.
        await using var session = await OpenAsync(server, Options() with { MaxRecipientsPerTransaction = 2 });
        Assert.Equal(3, session.Info.Extensions.RcptMax);
        var result = await session.SendAsync(Message(Enumerable.Range(1, 5).Select(i => $"r{i}@example.net").ToArray()));
        await session.QuitAsync();
        await server.FinishAsync();
        Assert.Equal(3, result.Transactions);
        Assert.All(result.Recipients, r => Assert.Equal(SmtpOutcome.Delivered, r.Outcome));
    }

    [Fact]
    public async Task Mailmax_ends_the_connection_for_more_transactions()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c, "250-mx.test\r\n250-PIPELINING\r\n250 LIMITS MAILMAX=1");
            await c.ExpectAsync("MAIL ");
            await c.ExpectAsync("RCPT ");
            await c.ExpectAsync("DATA");
            await c.SendAsync("250 ok", "250 ok", "354 go");
            await c.ReadDataAsync();
            await c.SendAsync("250 done");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = await OpenAsync(server);
        Assert.Equal(SmtpOutcome.Delivered, (await session.SendAsync(Message("a@example.net"))).Recipients[0].Outcome);
        Assert.False(session.CanSend);
        var second = await session.SendAsync(Message("b@example.net"));
        Assert.Equal(SmtpOutcome.TemporaryFailure, second.Recipients[0].Outcome);
        Assert.Equal(SmtpFailureKind.Policy, second.Recipients[0].Kind);
        Assert.Equal("4.5.3", second.Recipients[0].Reply.Status);
        await session.QuitAsync();
        await server.FinishAsync();
    }

    [Fact]
    public async Task Reset_probes_an_idle_connection_before_reuse()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c);
            await c.ExpectAsync("RSET");
            await c.SendAsync("250 2.0.0 ok");
            await c.ExpectAsync("RSET");
            await c.SendAsync("421 4.4.2 idle too long");
            c.Close();
        });

        await using var session = await OpenAsync(server);
        Assert.True(await session.ResetAsync());
        Assert.False(await session.ResetAsync());
        Assert.Equal(421, session.Failure!.Reply.Code);
        Assert.False(await session.ResetAsync());
        await server.FinishAsync();
    }

    /// <summary>Edge (e).</summary>
    [Fact]
    public async Task Message_over_the_announced_size_fails_permanently_before_mail()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c, "250-mx.test\r\n250 SIZE 20");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = await OpenAsync(server);
        Assert.Equal(20, session.Info.Extensions.MaxSize);
        var result = await session.SendAsync(Message("bob@example.net"));
        var r = Assert.Single(result.Recipients);
        Assert.Equal(SmtpOutcome.PermanentFailure, r.Outcome);
        Assert.Equal("5.3.4", r.Reply.Status);
        Assert.True(r.Reply.IsLocal);
        Assert.Equal(SmtpFailureKind.Policy, r.Kind);
        Assert.Equal(0, result.Transactions);
        Assert.True(session.CanSend);
        await session.QuitAsync();
        await server.FinishAsync();
    }

    /// <summary>Edge (f): each step's own timeout.</summary>
    [Theory]
    [InlineData(SmtpStage.Greeting)]
    [InlineData(SmtpStage.Rcpt)]
    [InlineData(SmtpStage.Data)]
    [InlineData(SmtpStage.DataEnd)]
    public async Task A_silent_server_times_out_at_each_step(SmtpStage silentAt)
    {
        using var hold = new SemaphoreSlim(0);
        await using var server = ScriptedServer.Start(async c =>
        {
            if (silentAt != SmtpStage.Greeting)
            {
                await GreetAsync(c, "250 mx.test");
                await c.ExpectAsync("MAIL ");
                await c.SendAsync("250 ok");
                await c.ExpectAsync("RCPT ");
                if (silentAt != SmtpStage.Rcpt)
                {
                    await c.SendAsync("250 ok");
                    await c.ExpectAsync("DATA");
                    if (silentAt != SmtpStage.Data)
                    {
                        await c.SendAsync("354 go");
                        await c.ReadDataAsync();
                    }
                }
            }

            await hold.WaitAsync(TimeSpan.FromSeconds(10));
        });

        var shortTimeout = TimeSpan.FromMilliseconds(300);
        var options = Options() with
        {
            Timeouts = ShortTimeouts with
            {
                Greeting = silentAt == SmtpStage.Greeting ? shortTimeout : ShortTimeouts.Greeting,
                Rcpt = silentAt == SmtpStage.Rcpt ? shortTimeout : ShortTimeouts.Rcpt,
                DataInitiation = silentAt == SmtpStage.Data ? shortTimeout : ShortTimeouts.DataInitiation,
                DataTermination = silentAt == SmtpStage.DataEnd ? shortTimeout : ShortTimeouts.DataTermination,
            },
        };
        await using var session = new SmtpClientSession(await server.ConnectAsync(), options);
        var started = DateTime.UtcNow;
        var open = await session.OpenAsync();
        SmtpFailure failure;
        if (silentAt == SmtpStage.Greeting)
        {
            failure = open!;
        }
        else
        {
            Assert.Null(open);
            var result = await session.SendAsync(Message("bob@example.net"));
            failure = new SmtpFailure(result.Recipients[0].Stage, result.Recipients[0].Outcome, result.Recipients[0].Reply, result.Recipients[0].Kind);
        }

        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(4));
        Assert.Equal(silentAt, failure.Stage);
        Assert.Equal(SmtpFailureKind.Timeout, failure.Kind);
        Assert.Equal(SmtpOutcome.TemporaryFailure, failure.Outcome);
        Assert.Equal("4.4.2", failure.Reply.Status);
        Assert.False(session.CanSend);
        hold.Release();
    }

    [Fact]
    public async Task The_whole_session_is_bounded()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await c.SendAsync("220 mx.test");
            await c.ExpectAsync("EHLO ");
            await Task.Delay(TimeSpan.FromSeconds(5));
        });

        // 2 s: past the greeting and EHLO on a loaded machine too, well before the script's 5 s.
        var options = Options() with { Timeouts = ShortTimeouts with { Session = TimeSpan.FromSeconds(2) } };
        await using var session = new SmtpClientSession(await server.ConnectAsync(), options);
        var failure = await session.OpenAsync();
        Assert.Equal(SmtpStage.Ehlo, failure!.Stage);
        Assert.Equal(SmtpFailureKind.Timeout, failure.Kind);
        Assert.Contains("session time limit", failure.Reply.Lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Caller_cancellation_is_a_result()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await c.SendAsync("220 mx.test");
            await c.ExpectAsync("EHLO ");
            await Task.Delay(TimeSpan.FromSeconds(5));
        });

        await using var session = new SmtpClientSession(await server.ConnectAsync(), Options());
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var failure = await session.OpenAsync(cts.Token);
        Assert.Equal(SmtpFailureKind.Cancelled, failure!.Kind);
    }

    /// <summary>Edge (g): 421 in the middle of a transaction.</summary>
    [Fact]
    public async Task Reply_421_fails_everything_open_and_closes_without_quit()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c);
            await c.ExpectAsync("MAIL ");
            await c.ExpectAsync("RCPT ");
            await c.ExpectAsync("RCPT ");
            await c.ExpectAsync("RCPT ");
            await c.ExpectAsync("DATA");
            await c.SendAsync("250 ok", "550 5.1.1 unknown", "250 ok", "421 4.3.2 shutting down");
            await c.ExpectEndAsync();
        });

        await using var session = await OpenAsync(server);
        var result = await session.SendAsync(Message("a@example.net", "b@example.net", "c@example.net"));
        Assert.Equal(SmtpOutcome.PermanentFailure, result.Recipients[0].Outcome);
        Assert.Equal(SmtpOutcome.TemporaryFailure, result.Recipients[1].Outcome);
        Assert.Equal("421 4.3.2 shutting down", result.Recipients[1].Reply.ToString());
        Assert.Equal(SmtpOutcome.TemporaryFailure, result.Recipients[2].Outcome);
        Assert.Equal(421, result.Failure!.Reply.Code);
        Assert.False(session.CanSend);
        await session.QuitAsync();
        await server.FinishAsync();
    }

    [Theory]
    [InlineData("greeting")]
    [InlineData("mail")]
    [InlineData("data-end")]
    public async Task Reply_421_at_other_steps(string where)
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            if (where == "greeting")
            {
                await c.SendAsync("421 4.3.2 too busy");
                await c.ExpectEndAsync();
                return;
            }

            await GreetAsync(c, "250 mx.test");
            await c.ExpectAsync("MAIL ");
            if (where == "mail")
            {
                await c.SendAsync("421 4.7.0 bye");
                await c.ExpectEndAsync();
                return;
            }

            await c.SendAsync("250 ok");
            await c.ExpectAsync("RCPT ");
            await c.SendAsync("250 ok");
            await c.ExpectAsync("RCPT ");
            await c.SendAsync("250 ok");
            await c.ExpectAsync("DATA");
            await c.SendAsync("354 go");
            await c.ReadDataAsync();
            await c.SendAsync("421 4.3.0 lost it");
            await c.ExpectEndAsync();
        });

        await using var session = new SmtpClientSession(await server.ConnectAsync(), Options());
        var open = await session.OpenAsync();
        SmtpFailure failure;
        if (where == "greeting")
        {
            failure = open!;
        }
        else
        {
            var result = await session.SendAsync(Message("bob@example.net", "carol@example.net"));
            Assert.Equal(result.Recipients[0].Reply, result.Recipients[1].Reply);
            failure = result.Failure!;
        }

        Assert.Equal(421, failure.Reply.Code);
        Assert.Equal(SmtpOutcome.TemporaryFailure, failure.Outcome);
        Assert.False(session.CanSend);
        await session.QuitAsync();
        await server.FinishAsync();
    }

    [Fact]
    public async Task Greeting_554_is_a_permanent_result_and_quit_is_sent()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await c.SendAsync("554-5.7.1 no service for you", "554 5.7.1 really");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = new SmtpClientSession(await server.ConnectAsync(), Options());
        var failure = await session.OpenAsync();
        Assert.Equal(SmtpStage.Greeting, failure!.Stage);
        Assert.Equal(SmtpOutcome.PermanentFailure, failure.Outcome);
        Assert.Equal(2, failure.Reply.Lines.Count);
        Assert.Equal(2, session.Info.Greeting!.Lines.Count);
        var result = await session.SendAsync(Message("bob@example.net"));
        Assert.Same(failure.Reply, result.Recipients[0].Reply);
        await session.QuitAsync();
        await server.FinishAsync();
    }

    [Fact]
    public async Task Ehlo_refused_falls_back_to_helo()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await c.SendAsync("220 old.test SMTP");
            await c.ExpectAsync("EHLO ");
            await c.SendAsync("502 5.5.2 command not recognized");
            await c.ExpectAsync("HELO client.example.org");
            await c.SendAsync("250 old.test");
            Assert.Equal("MAIL FROM:<alice@example.org>", await c.ExpectAsync("MAIL "));
            await c.SendAsync("250 ok");
            await c.ExpectAsync("RCPT ");
            await c.SendAsync("250 ok");
            await c.ExpectAsync("DATA");
            await c.SendAsync("354 go");
            await c.ReadDataAsync();
            await c.SendAsync("250 ok");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = await OpenAsync(server);
        Assert.False(session.Info.Esmtp);
        var message = Message("bob@example.net") with { EightBit = true, Ret = DsnReturn.Full, EnvelopeId = "abc" };
        Assert.Equal(SmtpOutcome.Delivered, (await session.SendAsync(message)).Recipients[0].Outcome);
        await session.QuitAsync();
        await server.FinishAsync();
    }

    [Fact]
    public async Task Ehlo_temporary_refusal_is_a_result()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await c.SendAsync("220 mx.test");
            await c.ExpectAsync("EHLO ");
            await c.SendAsync("451 4.3.0 try later");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = new SmtpClientSession(await server.ConnectAsync(), Options());
        var failure = await session.OpenAsync();
        Assert.Equal(SmtpStage.Ehlo, failure!.Stage);
        Assert.Equal(SmtpOutcome.TemporaryFailure, failure.Outcome);
        await session.QuitAsync();
        await server.FinishAsync();
    }

    [Theory]
    [InlineData(true, false, "MAIL FROM:<alice@example.org> BODY=8BITMIME")]
    [InlineData(false, false, "MAIL FROM:<alice@example.org>")]
    [InlineData(false, true, null)]
    public async Task Eight_bit_content_uses_8bitmime_or_goes_anyway_or_fails_in_strict_mode(bool offered, bool strict, string? expectedMail)
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c, offered ? "250-mx.test\r\n250 8BITMIME" : "250 mx.test");
            if (expectedMail is not null)
            {
                Assert.Equal(expectedMail, await c.ExpectAsync("MAIL "));
                await c.SendAsync("250 ok");
                await c.ExpectAsync("RCPT ");
                await c.SendAsync("250 ok");
                await c.ExpectAsync("DATA");
                await c.SendAsync("354 go");
                await c.ReadDataAsync();
                await c.SendAsync("250 ok");
            }

            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = await OpenAsync(server, Options() with { Strict8BitMime = strict });

        // Not flagged: the client looks at the content itself.
        var message = Message("bob@example.net") with { Content = Encoding.UTF8.GetBytes("Subject: gr\u00fc\u00dfe\r\n\r\nx\r\n") };
        var result = await session.SendAsync(message);
        await session.QuitAsync();
        await server.FinishAsync();
        if (expectedMail is null)
        {
            Assert.Equal(SmtpOutcome.PermanentFailure, result.Recipients[0].Outcome);
            Assert.Equal("5.6.3", result.Recipients[0].Reply.Status);
        }
        else
        {
            Assert.Equal(SmtpOutcome.Delivered, result.Recipients[0].Outcome);
        }
    }

    [Fact]
    public async Task Smtputf8_needed_and_not_offered_is_a_temporary_failure()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c);
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = await OpenAsync(server);
        var result = await session.SendAsync(Message("j\u00f6rg@example.net") with { SmtpUtf8 = true });
        Assert.Equal(SmtpOutcome.TemporaryFailure, result.Recipients[0].Outcome);
        Assert.Equal("4.6.7", result.Recipients[0].Reply.Status);
        var headersOnly = await session.SendAsync(Message("bob@example.net") with { SmtpUtf8 = true });
        Assert.Equal("4.6.9", headersOnly.Recipients[0].Reply.Status);
        await session.QuitAsync();
        await server.FinishAsync();
    }

    [Fact]
    public async Task Smtputf8_and_dsn_parameters_when_offered()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c, "250-mx.test\r\n250-SMTPUTF8\r\n250-SIZE\r\n250 DSN");
            Assert.Equal("MAIL FROM:<alice@example.org> SIZE=25 SMTPUTF8 RET=HDRS ENVID=id+2B1", await c.ExpectAsync("MAIL "));
            await c.SendAsync("250 ok");
            Assert.Equal("RCPT TO:<j\u00f6rg@example.net> NOTIFY=SUCCESS,DELAY ORCPT=utf-8;j\u00f6rg@example.net", await c.ExpectAsync("RCPT "));
            await c.SendAsync("250 ok");
            Assert.Equal("RCPT TO:<bob@example.net> NOTIFY=NEVER", await c.ExpectAsync("RCPT "));
            await c.SendAsync("250 ok");
            await c.ExpectAsync("DATA");
            await c.SendAsync("354 go");
            await c.ReadDataAsync();
            await c.SendAsync("250 ok");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = await OpenAsync(server);
        var message = Message() with
        {
            Recipients =
            [
                new SmtpRecipient("j\u00f6rg@example.net", DsnNotify.Success | DsnNotify.Delay, "utf-8;j\u00f6rg@example.net"),
                new SmtpRecipient("bob@example.net", DsnNotify.Never, "bad orcpt without type"),
            ],
            SmtpUtf8 = true,
            Ret = DsnReturn.Headers,
            EnvelopeId = "id+2B1",
        };
        var result = await session.SendAsync(message);
        await session.QuitAsync();
        await server.FinishAsync();
        Assert.All(result.Recipients, r => Assert.Equal(SmtpOutcome.Delivered, r.Outcome));
        Assert.True(session.Info.DsnOffered && session.Info.SmtpUtf8Offered);
    }

    [Fact]
    public async Task Requiretls_without_verified_tls_fails_with_5_7_30()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c);
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = await OpenAsync(server);
        var result = await session.SendAsync(Message("bob@example.net") with { RequireTls = true });
        Assert.Equal(SmtpOutcome.PermanentFailure, result.Recipients[0].Outcome);
        Assert.Equal("5.7.30", result.Recipients[0].Reply.Status);
        await session.QuitAsync();
        await server.FinishAsync();
    }

    [Fact]
    public async Task Control_characters_in_addresses_never_reach_the_wire()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c, "250 mx.test");
            await c.ExpectAsync("MAIL ");
            await c.SendAsync("250 ok");
            await c.ExpectAsync("RCPT TO:<ok@example.net>");
            await c.SendAsync("250 ok");
            await c.ExpectAsync("DATA");
            await c.SendAsync("354 go");
            await c.ReadDataAsync();
            await c.SendAsync("250 ok");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = await OpenAsync(server);
        var result = await session.SendAsync(Message("evil@example.net>\r\nRCPT TO:<x@example.net", "ok@example.net"));
        Assert.Equal(SmtpOutcome.PermanentFailure, result.Recipients[0].Outcome);
        Assert.Equal(SmtpOutcome.Delivered, result.Recipients[1].Outcome);
        var badSender = await session.SendAsync(Message("ok@example.net") with { Sender = "a\r\nb@example.org" });
        Assert.Equal(SmtpOutcome.PermanentFailure, badSender.Recipients[0].Outcome);
        await session.QuitAsync();
        await server.FinishAsync();
    }

    [Fact]
    public async Task Bare_line_ends_in_content_are_repaired_on_the_wire()
    {
        byte[] data = [];
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c);
            await c.ExpectAsync("MAIL ");
            await c.ExpectAsync("RCPT ");
            await c.ExpectAsync("DATA");
            await c.SendAsync("250 ok", "250 ok", "354 go");
            data = await c.ReadDataAsync();
            await c.SendAsync("250 ok");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = await OpenAsync(server);
        var content = Encoding.ASCII.GetBytes("Subject: x\n\nline\rnext\n.\n" + new string('y', 200_000));
        var result = await session.SendAsync(Message("bob@example.net") with { Content = content });
        await session.QuitAsync();
        await server.FinishAsync();
        Assert.Equal(SmtpOutcome.Delivered, result.Recipients[0].Outcome);
        Assert.Equal("Subject: x\r\n\r\nline\r\nnext\r\n..\r\n" + new string('y', 200_000) + "\r\n", Encoding.ASCII.GetString(data));
    }

    [Fact]
    public async Task Bdat_when_preferred_and_offered()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c, "250-mx.test\r\n250-PIPELINING\r\n250 CHUNKING");
            await c.ExpectAsync("MAIL ");
            await c.ExpectAsync("RCPT ");
            await c.SendAsync("250 ok", "250 ok");
            Assert.Equal("BDAT 10", await c.ExpectAsync("BDAT "));
            Assert.Equal("Subject: t", Encoding.ASCII.GetString(await c.ReadExactlyAsync(10)));
            await c.SendAsync("250 2.0.0 chunk");
            Assert.Equal("BDAT 10", await c.ExpectAsync("BDAT "));
            await c.ReadExactlyAsync(10);
            await c.SendAsync("250 2.0.0 chunk");
            Assert.Equal("BDAT 4 LAST", await c.ExpectAsync("BDAT "));
            Assert.Equal("lo\r\n", Encoding.ASCII.GetString(await c.ReadExactlyAsync(4)));
            await c.SendAsync("250 2.0.0 message");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = await OpenAsync(server, Options() with { PreferChunking = true, ChunkSize = 10 });
        var message = Message("bob@example.net") with { Content = Encoding.ASCII.GetBytes("Subject: test\r\n\r\nHello\r\n") };
        var result = await session.SendAsync(message);
        await session.QuitAsync();
        await server.FinishAsync();
        Assert.Equal(SmtpOutcome.Delivered, result.Recipients[0].Outcome);
        Assert.Equal("250 2.0.0 message", result.Recipients[0].Reply.ToString());
    }

    [Fact]
    public async Task Binary_content_needs_binarymime()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c, "250-mx.test\r\n250-CHUNKING\r\n250 BINARYMIME");
            Assert.Equal("MAIL FROM:<alice@example.org> BODY=BINARYMIME", await c.ExpectAsync("MAIL "));
            await c.SendAsync("250 ok");
            await c.ExpectAsync("RCPT ");
            await c.SendAsync("250 ok");
            Assert.Equal("BDAT 5 LAST", await c.ExpectAsync("BDAT "));
            Assert.Equal(new byte[] { 0, (byte)'\n', 0xff, (byte)'\r', (byte)'.' }, await c.ReadExactlyAsync(5));
            await c.SendAsync("250 ok");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = await OpenAsync(server);
        var message = Message("bob@example.net") with { Content = new byte[] { 0, (byte)'\n', 0xff, (byte)'\r', (byte)'.' }, BodyType = BodyType.BinaryMime };
        Assert.Equal(SmtpOutcome.Delivered, (await session.SendAsync(message)).Recipients[0].Outcome);
        await session.QuitAsync();
        await server.FinishAsync();
    }

    [Fact]
    public async Task Replies_arriving_one_byte_at_a_time()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await c.SendByteByByteAsync("220-mx.test\r\n220 ESMTP\r\n");
            await c.ExpectAsync("EHLO ");
            await c.SendByteByByteAsync(EhloPipelining + "\r\n");
            await c.ExpectAsync("MAIL ");
            await c.ExpectAsync("RCPT ");
            await c.ExpectAsync("DATA");
            await c.SendByteByByteAsync("250 ok\r\n250-2.1.5 ok\n250 2.1.5 more\r\n354 go\r\n");
            await c.ReadDataAsync();
            await c.SendByteByByteAsync("250-2.0.0 queued\r\n250 2.0.0 as X\r\n");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = await OpenAsync(server);
        Assert.True(session.Info.Extensions.Pipelining && session.Info.Extensions.EightBitMime && session.Info.Extensions.EnhancedStatusCodes);
        var result = await session.SendAsync(Message("bob@example.net"));
        Assert.Equal("250-2.0.0 queued\r\n250 2.0.0 as X", result.Recipients[0].Reply.ToString());
        await session.QuitAsync();
        await server.FinishAsync();
    }

    [Fact]
    public async Task Malformed_reply_is_a_protocol_failure()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await c.SendAsync("220 mx.test");
            await c.ExpectAsync("EHLO ");
            await c.SendAsync("250-mx.test", "251 other code");
            await c.ExpectEndAsync();
        });

        await using var session = new SmtpClientSession(await server.ConnectAsync(), Options());
        var failure = await session.OpenAsync();
        Assert.Equal(SmtpFailureKind.Protocol, failure!.Kind);
        Assert.Equal("4.5.0", failure.Reply.Status);
        await session.QuitAsync();
        await server.FinishAsync();
    }

    [Fact]
    public async Task Connection_lost_after_the_data_is_a_temporary_failure()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c);
            await c.ExpectAsync("MAIL ");
            await c.ExpectAsync("RCPT ");
            await c.ExpectAsync("DATA");
            await c.SendAsync("250 ok", "250 ok", "354 go");
            await c.ReadDataAsync();
            c.Close();
        });

        await using var session = await OpenAsync(server);
        var result = await session.SendAsync(Message("bob@example.net"));
        await server.FinishAsync();
        Assert.Equal(SmtpOutcome.TemporaryFailure, result.Recipients[0].Outcome);
        Assert.Equal(SmtpStage.DataEnd, result.Recipients[0].Stage);
        Assert.Equal(SmtpFailureKind.ConnectionLost, result.Recipients[0].Kind);
    }

    // ---- TLS ---------------------------------------------------------------------------------

    [Fact]
    public async Task Starttls_then_ehlo_again_and_session_facts()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c, "250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS");
            await c.ExpectAsync("STARTTLS");
            await c.SendAsync("220 2.0.0 go ahead");
            await c.StartTlsAsync(Certificate);
            await c.ExpectAsync("EHLO client.example.org");
            await c.SendAsync("250-mx.test", "250-PIPELINING", "250-REQUIRETLS", "250 8BITMIME");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = await OpenAsync(server, Options(SmtpTlsMode.Opportunistic));
        Assert.True(session.Info.Tls);
        Assert.True(session.Info.StartTlsOffered);
        Assert.True(session.Info.RequireTlsOffered);
        Assert.True(session.Info.EightBitMimeOffered);
        Assert.False(session.Info.Extensions.StartTls);
        Assert.True(session.Info.TlsProtocol is SslProtocols.Tls12 or SslProtocols.Tls13);
        Assert.NotNull(session.Info.CipherSuite);
        Assert.NotNull(session.Info.Verification);
        Assert.True(session.Info.Verification!.Accepted);
        Assert.StartsWith("TLSv1.", session.Info.TlsVersionName, StringComparison.Ordinal);
        await session.QuitAsync();
        await server.FinishAsync();
    }

    [Fact]
    public async Task Tls_alert_on_the_first_read_after_the_handshake_is_a_tls_failure()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c, "250-mx.test\r\n250 STARTTLS");
            await c.ExpectAsync("STARTTLS");
            await c.SendAsync("220 go ahead");
            try
            {
                // TLS 1.3: the client finishes its handshake before the server checks the client
                // certificate it demanded; the server's alert reaches the client's next read.
                await c.StartTlsAsync(Certificate, o =>
                {
                    o.EnabledSslProtocols = SslProtocols.Tls13;
                    o.ClientCertificateRequired = true;
                    o.RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null;
                });
            }
            catch (AuthenticationException)
            {
                // Expected: the server refused the (absent) client certificate.
            }
        });

        await using var session = new SmtpClientSession(await server.ConnectAsync(), Options(SmtpTlsMode.Opportunistic));
        var failure = await session.OpenAsync();
        await server.FinishAsync();
        Assert.NotNull(failure);
        Assert.Equal(SmtpStage.StartTls, failure.Stage);
        Assert.Equal(SmtpFailureKind.Tls, failure.Kind);
        Assert.Equal(SmtpOutcome.TemporaryFailure, failure.Outcome);
        Assert.NotNull(session.Info.TlsError);

        // The handshake itself completed: the alert came with the first read (the EHLO reply).
        Assert.True(session.Info.Tls);
        Assert.Equal(SslProtocols.Tls13, session.Info.TlsProtocol);
    }

    [Fact]
    public async Task Server_closing_right_after_the_handshake_is_a_tls_failure()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c, "250-mx.test\r\n250 STARTTLS");
            await c.ExpectAsync("STARTTLS");
            await c.SendAsync("220 go ahead");
            await c.StartTlsAsync(Certificate);
            c.Close();
        });

        await using var session = new SmtpClientSession(await server.ConnectAsync(), Options(SmtpTlsMode.Opportunistic));
        var failure = await session.OpenAsync();
        await server.FinishAsync();
        Assert.Equal(SmtpFailureKind.Tls, failure!.Kind);
        Assert.Equal(SmtpStage.StartTls, failure.Stage);
        Assert.Equal("4.7.5", failure.Reply.Status);
        Assert.True(session.Info.Tls);
    }

    [Fact]
    public async Task Refused_certificate_fails_the_handshake_and_keeps_the_verification()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c, "250-mx.test\r\n250 STARTTLS");
            await c.ExpectAsync("STARTTLS");
            await c.SendAsync("220 go ahead");
            try
            {
                await c.StartTlsAsync(Certificate);
            }
            catch (Exception e) when (e is AuthenticationException or IOException)
            {
                // The client gave up on our certificate.
            }
        });

        // Self-signed and no errors ignored: PKIX fails, and the options demand it.
        var options = Options(SmtpTlsMode.Required) with
        {
            Tls = new ClientTlsOptions { ServerName = "mx.client.test", VerifyPkix = true },
        };
        await using var session = new SmtpClientSession(await server.ConnectAsync(), options);
        var failure = await session.OpenAsync();
        await server.FinishAsync();
        Assert.Equal(SmtpFailureKind.Tls, failure!.Kind);
        Assert.Equal(SmtpStage.StartTls, failure.Stage);
        Assert.NotNull(session.Info.Verification);
        Assert.False(session.Info.Verification!.Accepted);
        Assert.False(session.Info.Verification.PkixValid);
        Assert.StartsWith("certificate not accepted", session.Info.TlsError, StringComparison.Ordinal);
        Assert.False(session.Info.Tls);
    }

    [Fact]
    public async Task Data_after_the_starttls_reply_is_refused()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c, "250-mx.test\r\n250 STARTTLS");
            await c.ExpectAsync("STARTTLS");
            await c.SendRawAsync("220 go ahead\r\n250-injected\r\n");
            await c.ExpectEndAsync();
        });

        await using var session = new SmtpClientSession(await server.ConnectAsync(), Options(SmtpTlsMode.Opportunistic));
        var failure = await session.OpenAsync();
        await session.QuitAsync();
        await server.FinishAsync();
        Assert.Equal(SmtpFailureKind.Protocol, failure!.Kind);
        Assert.Equal(SmtpStage.StartTls, failure.Stage);
    }

    [Theory]
    [InlineData(SmtpTlsMode.Opportunistic)]
    [InlineData(SmtpTlsMode.Required)]
    public async Task Starttls_refused_continues_in_plaintext_only_when_opportunistic(SmtpTlsMode mode)
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c, "250-mx.test\r\n250 STARTTLS");
            await c.ExpectAsync("STARTTLS");
            await c.SendAsync("454 4.7.0 TLS not available");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = new SmtpClientSession(await server.ConnectAsync(), Options(mode));
        var failure = await session.OpenAsync();
        Assert.Equal(454, session.Info.StartTlsRefused!.Code);
        if (mode == SmtpTlsMode.Opportunistic)
        {
            Assert.Null(failure);
            Assert.True(session.CanSend);
        }
        else
        {
            Assert.Equal(SmtpStage.StartTls, failure!.Stage);
            Assert.Equal(SmtpOutcome.TemporaryFailure, failure.Outcome);
        }

        await session.QuitAsync();
        await server.FinishAsync();
    }

    [Fact]
    public async Task Required_tls_tries_starttls_even_when_not_offered()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await GreetAsync(c, "250 mx.test");
            await c.ExpectAsync("STARTTLS");
            await c.SendAsync("502 5.5.1 unknown command");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = new SmtpClientSession(await server.ConnectAsync(), Options(SmtpTlsMode.Required));
        var failure = await session.OpenAsync();
        Assert.Equal(SmtpStage.StartTls, failure!.Stage);
        Assert.Equal(SmtpOutcome.TemporaryFailure, failure.Outcome);
        Assert.False(session.Info.StartTlsOffered);
        await session.QuitAsync();
        await server.FinishAsync();
    }

    [Fact]
    public async Task Implicit_tls_reads_the_greeting_over_tls()
    {
        await using var server = ScriptedServer.Start(async c =>
        {
            await c.StartTlsAsync(Certificate);
            await GreetAsync(c, "250-mx.test\r\n250 AUTH PLAIN");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye");
        });

        await using var session = await OpenAsync(server, Options(SmtpTlsMode.Implicit));
        Assert.True(session.Info.Tls && session.Info.ImplicitTls);
        await session.QuitAsync();
        await server.FinishAsync();
    }
}
