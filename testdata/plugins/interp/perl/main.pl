# interp-perl: the protocol by hand (docs/PROTOCOL.md), core modules only.
use strict;
use warnings;
use JSON::PP;

my $json = JSON::PP->new->canonical;
$| = 1;

sub send_msg { print $json->encode($_[0]), "\n"; }

while (my $line = <STDIN>) {
    next if $line =~ /^\s*$/;
    my $msg = $json->decode($line);
    my $method = $msg->{method} // '';
    if ($method eq 'initialize') {
        send_msg({ jsonrpc => '2.0', id => $msg->{id}, result => { protocol => 1, name => 'interp-perl', version => '0.1.0', hooks => ['greet'] } });
    } elsif ($method eq 'call') {
        send_msg({ jsonrpc => '2.0', id => $msg->{id}, result => { lang => 'perl', input => $msg->{params}{input} } });
    } elsif ($method eq 'shutdown') {
        send_msg({ jsonrpc => '2.0', id => $msg->{id}, result => undef });
    }
}
exit 0;
