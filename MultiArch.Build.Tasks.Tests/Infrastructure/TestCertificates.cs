using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>A certificate with its private key, plus PEM text for files a registry or skopeo reads.</summary>
internal sealed class TestCertificate : IDisposable
{
    public TestCertificate(X509Certificate2 certificate, AsymmetricAlgorithm key)
    {
        Certificate = certificate;
        Key = key;
    }

    /// <summary>The certificate, with its private key attached.</summary>
    public X509Certificate2 Certificate { get; }

    public AsymmetricAlgorithm Key { get; }

    public string CertificatePem => Certificate.ExportCertificatePem() + "\n";

    /// <summary>The private key as PKCS#8 PEM (<c>BEGIN PRIVATE KEY</c>), which Go's TLS stack reads.</summary>
    public string KeyPem => Key switch
    {
        RSA rsa => rsa.ExportPkcs8PrivateKeyPem() + "\n",
        ECDsa ecdsa => ecdsa.ExportPkcs8PrivateKeyPem() + "\n",
        _ => throw new NotSupportedException(Key.GetType().Name),
    };

    public void Dispose()
    {
        Certificate.Dispose();
        Key.Dispose();
    }
}

/// <summary>
/// Makes the certificates the registry fixtures need with <see cref="CertificateRequest"/> (no openssl):
/// a CA and a server certificate for <c>127.0.0.1</c>/<c>localhost</c>, and a self-signed token-signing certificate.
/// </summary>
internal static class TestCertificates
{
    private static readonly TimeSpan _clockSkew = TimeSpan.FromHours(1);

    /// <summary>A CA certificate (ECDSA P-256: quick to make) that can sign server certificates.</summary>
    public static TestCertificate CreateCertificateAuthority(string commonName = "MultiArch test CA")
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        var now = DateTimeOffset.UtcNow;
        var certificate = request.CreateSelfSigned(now - _clockSkew, now.AddDays(30));
        return new TestCertificate(certificate, key);
    }

    /// <summary>A TLS server certificate issued by <paramref name="issuer"/> for the given IP addresses and DNS names.</summary>
    public static TestCertificate CreateServerCertificate(TestCertificate issuer, IEnumerable<IPAddress> addresses, IEnumerable<string> dnsNames)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1", "Server Authentication")], critical: false));
        var names = new SubjectAlternativeNameBuilder();
        foreach (var address in addresses)
        {
            names.AddIpAddress(address);
        }

        foreach (var dnsName in dnsNames)
        {
            names.AddDnsName(dnsName);
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer.Certificate, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var now = DateTimeOffset.UtcNow;
        using var issued = request.Create(issuer.Certificate, now - _clockSkew, now.AddDays(7), RandomNumberGenerator.GetBytes(16));
        return new TestCertificate(issued.CopyWithPrivateKey(key), key);
    }

    /// <summary>A self-signed RSA certificate for signing RS256 tokens; it is also the registry's whole root bundle.</summary>
    public static TestCertificate CreateTokenSigningCertificate(string commonName = "MultiArch test token signer")
    {
        var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        var now = DateTimeOffset.UtcNow;
        var certificate = request.CreateSelfSigned(now - _clockSkew, now.AddDays(30));
        return new TestCertificate(certificate, key);
    }
}
