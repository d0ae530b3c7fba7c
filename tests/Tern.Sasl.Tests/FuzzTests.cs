namespace Tern.Sasl.Tests;

/// <summary>
/// Deterministic fuzzing: random and mutated messages to every mechanism, both sides. Whatever
/// arrives, each step returns a value; nothing throws.
/// </summary>
public sealed class FuzzTests : IDisposable
{
    private const int Iterations = 3000;
    private readonly TempStore _store = new();

    public FuzzTests()
    {
        // Low iteration counts are not allowed, so keep the one account cheap to reach but real.
        _store.Store.Add(Sasl.User, Sasl.Password, new Credentials.AccountOptions { CramMd5 = true });
    }

    public void Dispose() => _store.Dispose();

    public static TheoryData<string> Mechanisms => [.. SaslMechanisms.All];

    [Theory]
    [MemberData(nameof(Mechanisms))]
    public void Server_mechanisms_survive_random_and_mutated_input(string mechanism)
    {
        var random = new Random(Seed(mechanism));
        var channel = Sasl.TlsWithBinding();
        var factory = new SaslServerFactory(_store.Store, Sasl.AllMechanisms);
        var transcript = RecordClientMessages(mechanism, channel, factory);

        for (var i = 0; i < Iterations; i++)
        {
            Assert.True(factory.TryCreate(mechanism, channel, out var server));
            // Either AUTH without an initial response (Start) or with one; then the client's messages in order.
            var index = 0;
            var step = random.Next(4) == 0 ? server.Start() : server.Step(Message(random, transcript, index++));
            while (step.Status == SaslStatus.Continue && index < 4)
            {
                step = server.Step(Message(random, transcript, index++));
            }

            Assert.True(step.Status is SaslStatus.Continue or SaslStatus.Success or SaslStatus.Failure);
        }
    }

    [Theory]
    [MemberData(nameof(Mechanisms))]
    public void Client_mechanisms_survive_random_and_mutated_challenges(string mechanism)
    {
        var random = new Random(Seed(mechanism) + 1);
        var channel = Sasl.TlsWithBinding();
        var transcript = RecordServerMessages(mechanism, channel);

        for (var i = 0; i < Iterations / 3; i++)
        {
            var client = SaslClientFactory.Create(mechanism, Sasl.User, Sasl.Password, channel, SaslMechanisms.All);
            var step = client.Start();
            for (var round = 0; step.Status == SaslStatus.Continue && round < 3; round++)
            {
                step = random.Next(5) == 0 ? client.Complete(Message(random, transcript, round)) : client.Step(Message(random, transcript, round));
            }
        }
    }

    /// <summary>A fixed seed per mechanism (string.GetHashCode differs between runs).</summary>
    private static int Seed(string mechanism) => mechanism.Aggregate(17, (seed, c) => (seed * 31) + c);

    /// <summary>Random bytes, sometimes very long, or the real message of that round with a few bytes changed, cut or repeated.</summary>
    private static byte[] Message(Random random, IReadOnlyList<byte[]> transcript, int round)
    {
        var choice = random.Next(10);
        if (choice < 3 || round >= transcript.Count)
        {
            var noise = new byte[random.Next(choice == 0 ? 5000 : 200)];
            random.NextBytes(noise);
            return noise;
        }

        var message = transcript[round].ToArray();
        if (message.Length == 0)
        {
            return message;
        }

        switch (choice)
        {
            case 3:
                return message[..random.Next(message.Length)];
            case 4:
                return [.. message, .. message];
            default:
                var flips = 1 + random.Next(3);
                for (var f = 0; f < flips; f++)
                {
                    // Mostly grammar characters, so the parser's branches are reached, not just its first check.
                    message[random.Next(message.Length)] = random.Next(2) == 0 ? (byte)random.Next(256) : ",=0\0 aAnpryc"u8[random.Next(12)];
                }

                return message;
        }
    }

    private static List<byte[]> RecordClientMessages(string mechanism, SaslChannel channel, SaslServerFactory factory)
    {
        var messages = new List<byte[]>();
        var client = SaslClientFactory.Create(mechanism, Sasl.User, Sasl.Password, channel, factory.Advertised(channel));
        Assert.True(factory.TryCreate(mechanism, channel, out var server));
        var start = client.Start();
        var step = start.Response is null ? server.Start() : server.Step(start.Response);
        if (start.Response is not null)
        {
            messages.Add(start.Response);
        }

        while (step.Status == SaslStatus.Continue)
        {
            var answer = client.Step(step.Challenge);
            messages.Add(answer.Response!);
            step = server.Step(answer.Response);
        }

        Assert.Equal(SaslStatus.Success, step.Status);
        return messages;
    }

    private List<byte[]> RecordServerMessages(string mechanism, SaslChannel channel)
    {
        var messages = new List<byte[]>();
        var factory = new SaslServerFactory(_store.Store, Sasl.AllMechanisms);
        var client = SaslClientFactory.Create(mechanism, Sasl.User, Sasl.Password, channel, factory.Advertised(channel));
        Assert.True(factory.TryCreate(mechanism, channel, out var server));
        var start = client.Start();
        var step = start.Response is null ? server.Start() : server.Step(start.Response);
        while (step.Status == SaslStatus.Continue)
        {
            messages.Add(step.Challenge!);
            step = server.Step(client.Step(step.Challenge).Response);
        }

        return messages;
    }
}
