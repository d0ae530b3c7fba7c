using System.Security.Cryptography;
using Tern.Sasl.CramMd5;

namespace Tern.Sasl.Tests;

/// <summary>The MD5 compression function and HMAC-MD5 from stored states, against .NET's own MD5 and HMACMD5.</summary>
public sealed class HmacMd5Tests
{
    private static readonly int[] Lengths = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000];

    [Fact]
    public void Md5_matches_the_platform_for_every_padding_boundary()
    {
        var random = new Random(5);
        foreach (var length in Lengths)
        {
            var data = new byte[length];
            random.NextBytes(data);
            var digest = new byte[16];

            Md5Compression.Hash(data, digest);

#pragma warning disable CA5351 // the reference implementation to compare with
            Assert.Equal(MD5.HashData(data), digest);
#pragma warning restore CA5351
        }
    }

    [Fact]
    public void Md5_of_the_rfc_1321_test_suite()
    {
        Assert.Equal("d41d8cd98f00b204e9800998ecf8427e", Md5(""));
        Assert.Equal("0cc175b9c0f1b6a831c399e269772661", Md5("a"));
        Assert.Equal("900150983cd24fb0d6963f7d28e17f72", Md5("abc"));
        Assert.Equal("f96b697d7cb7938d525a2f31aaf161d0", Md5("message digest"));
        Assert.Equal("57edf4a22be3c955ac49da2e2107b67a", Md5("12345678901234567890123456789012345678901234567890123456789012345678901234567890"));
    }

    [Fact]
    public void Hmac_from_stored_states_matches_the_platform_for_many_keys_and_messages()
    {
        var random = new Random(7);
        foreach (var keyLength in (int[])[0, 1, 16, 63, 64, 65, 100, 200])
        {
            var key = new byte[keyLength];
            random.NextBytes(key);
            var states = HmacMd5Precomputed.FromKey(key);
            foreach (var length in Lengths)
            {
                var message = new byte[length];
                random.NextBytes(message);
                var mac = new byte[16];

                states.Compute(message, mac);

#pragma warning disable CA5351 // the reference implementation to compare with
                Assert.Equal(HMACMD5.HashData(key, message), mac);
#pragma warning restore CA5351
            }
        }
    }

    [Fact]
    public void Hmac_of_the_rfc_2104_examples()
    {
        var mac = new byte[16];
        HmacMd5Precomputed.FromKey(Enumerable.Repeat((byte)0x0b, 16).ToArray()).Compute("Hi There"u8, mac);
        Assert.Equal("9294727a3638bb1c13f48ef8158bfc9d", Convert.ToHexStringLower(mac));

        HmacMd5Precomputed.FromKey("Jefe"u8).Compute("what do ya want for nothing?"u8, mac);
        Assert.Equal("750c783e6ab0b503eaa86e310a5db738", Convert.ToHexStringLower(mac));
    }

    [Fact]
    public void States_survive_serialisation()
    {
        var states = HmacMd5Precomputed.FromKey("tanstaaftanstaaf"u8);
        var inner = new byte[16];
        var outer = new byte[16];
        states.Inner.WriteTo(inner);
        states.Outer.WriteTo(outer);
        var restored = new HmacMd5Precomputed(Md5State.ReadFrom(inner), Md5State.ReadFrom(outer));
        var mac = new byte[16];

        restored.Compute("<1896.697170952@postoffice.reston.mci.net>"u8, mac);

        Assert.Equal("b913a602c7eda7a495b4e6e7334d3890", Convert.ToHexStringLower(mac));
        Assert.DoesNotContain("tanstaaf", states.ToString(), StringComparison.Ordinal);
    }

    private static string Md5(string text)
    {
        var digest = new byte[16];
        Md5Compression.Hash(System.Text.Encoding.ASCII.GetBytes(text), digest);
        return Convert.ToHexStringLower(digest);
    }
}
