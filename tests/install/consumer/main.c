/* A program outside the tree that uses the installed tapir: create a stack
 * on the sans-IO core and check that its defaults are there. */
#include <arpa/inet.h>
#include <stdio.h>
#include <tapir/tapir.h>

int main(void)
{
    struct tapir_config cfg;
    tapir_config_init(&cfg);
    inet_pton(AF_INET, "10.0.0.2", &cfg.addr);
    tapir_stack *s;
    if (tapir_stack_create(&cfg, &s) != 0) {
        fprintf(stderr, "tapir_stack_create failed\n");
        return 1;
    }
    unsigned mtu = tapir_stack_config(s)->mtu;
    tapir_stack_destroy(s);
    printf("tapir consumer ok mtu %u\n", mtu);
    return mtu == 1500 ? 0 : 1;
}
